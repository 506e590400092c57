// Storage of lab reports: one interface, a PostgreSQL implementation
// (pg_lab_store.h) and an in-memory one, held to one contract test
// (lab_store_test.cc).
//
// A report (an order with its results) is one row keyed by the performing
// institution and the order's local ID, holding the serialized
// v1::LabReport (the truth) and the columns reads filter on: the patient
// (institution + local ID), the earliest collection time and the LOINC codes
// it carries. Writing changed content makes a new current version and moves
// the previous one into the history; identical content changes nothing.
#ifndef MERIDIAN_SERVICES_LAB_RESULTS_LAB_STORE_H_
#define MERIDIAN_SERVICES_LAB_RESULTS_LAB_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/outbox/outbox.h"
#include "libs/xref/xref.h"
#include "meridian/labs/v1/labs.pb.h"

namespace meridian::labs {


struct ReportRow {
  std::string organisation_id;  // the performing institution
  std::string local_id;         // its order ID
  std::string patient_organisation_id;
  std::string patient_local_id;
  // The earliest collected_at of its results: reads filter and order on it.
  absl::Time collected_at;
  // The LOINC codes of its results (distinct).
  std::vector<std::string> loinc_codes;
  // The serialized v1::LabReport.
  std::string body;
};

struct StoredReport {
  ReportRow row;
  int64_t version = 0;
  absl::Time recorded_at;  // when this version was stored
};

enum class WriteOutcome { kCreated, kUnchanged, kUpdated };

struct WriteResult {
  WriteOutcome outcome = WriteOutcome::kCreated;
  int64_t version = 0;
};

// The events to append for a row that was created or updated (not for an
// unchanged one); null: none. It may run again if the write is retried.
using EventsFor = std::function<absl::StatusOr<std::vector<outbox::PendingEvent>>(
    const WriteResult& result)>;

// Where a page of a patient's reports ended (exclusive).
struct Cursor {
  absl::Time collected_at;
  std::string organisation_id;
  std::string local_id;
};

// A patient's reports, newest collected_at first, then institution and local
// ID (descending).
struct ReportQuery {
  // The patient as every institution knows them (matched on the reports'
  // patient institution + local ID).
  std::vector<xref::LocalId> patients;
  // Every performing institution's reports when true; only those performed
  // by `caller_organisation` or for a patient it registered otherwise.
  bool include_other_institutions = true;
  std::string caller_organisation;
  // Only reports carrying at least one of these codes; all when empty.
  std::vector<std::string> loinc_codes;
  absl::Time from = absl::InfinitePast();  // collected_at >= from
  absl::Time to = absl::InfiniteFuture();  // collected_at < to
  // Only reports performed by one of these institutions; any when empty.
  std::vector<std::string> performed_by;
  std::optional<Cursor> after;
  int limit = 100;
};

// The events (the audit event, reuse events) for what a query returned;
// appended in the query's transaction: the read fails if they cannot be.
// Null: no events.
using ReadEventsFor = std::function<absl::StatusOr<std::vector<outbox::PendingEvent>>(
    const std::vector<StoredReport>& returned)>;

class LabStore {
 public:
  virtual ~LabStore() = default;

  // Creates, updates (the previous version to the history) or leaves
  // unchanged the report `row` names, with `events_for`'s events when it
  // wrote; one transaction. ABORTED when a concurrent writer of the same
  // report won: retry.
  virtual absl::StatusOr<WriteResult> Write(const ReportRow& row,
                                            const EventsFor& events_for) = 0;

  // The current version, or nullopt.
  virtual absl::StatusOr<std::optional<StoredReport>> Get(
      const std::string& organisation_id, const std::string& local_id) = 0;

  // Every version, oldest first, the current one last; empty when unknown.
  virtual absl::StatusOr<std::vector<StoredReport>> History(
      const std::string& organisation_id, const std::string& local_id) = 0;

  // At most query.limit current reports; `events_for`'s events in the same
  // transaction.
  virtual absl::StatusOr<std::vector<StoredReport>> Query(const ReportQuery& query,
                                                          const ReadEventsFor& events_for) = 0;
};

}  // namespace meridian::labs

#endif  // MERIDIAN_SERVICES_LAB_RESULTS_LAB_STORE_H_
