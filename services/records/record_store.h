// Storage of clinical records: one interface, a PostgreSQL implementation
// (pg_record_store.h) and an in-memory one, held to one contract test
// (record_store_test.cc).
//
// Every record (encounter, document, referral) is a row keyed by kind,
// institution and local record ID, holding the serialized record message and
// the few columns reads filter on. Writing a changed row makes it the new
// current version and moves the previous one into the history; writing an
// identical row changes nothing.
#ifndef MERIDIAN_SERVICES_RECORDS_RECORD_STORE_H_
#define MERIDIAN_SERVICES_RECORDS_RECORD_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/outbox/outbox.h"
#include "libs/xref/xref.h"
#include "meridian/records/v1/records.pb.h"

namespace meridian::records {


// The kind of a record; the numbers are v1::RecordCategory's.
enum class Kind : int16_t { kEncounter = 1, kDocument = 2, kReferral = 3 };

struct RecordKey {
  Kind kind = Kind::kEncounter;
  std::string organisation_id;
  std::string local_id;
};

struct RecordRow {
  Kind kind = Kind::kEncounter;
  std::string organisation_id;   // the institution that pushed it
  std::string local_id;          // its ID there
  std::string patient_local_id;  // the patient's ID there
  // Encounter start, document authored, referral requested.
  absl::Time clinical_time;
  // Referrals: the receiving institution (it reads the referral as its own).
  std::string counterpart_organisation;
  bool entered_in_error = false;
  // ICD-10 codes the record carries (diagnoses, referral condition).
  std::vector<std::string> codes;
  // The serialized v1::Encounter / ClinicalDocument / Referral.
  std::string body;

  RecordKey key() const { return {kind, organisation_id, local_id}; }
};

struct StoredRecord {
  RecordRow row;
  int64_t version = 0;
  absl::Time recorded_at;  // when this version was stored
};

struct WriteResult {
  v1::PushOutcome outcome = v1::PUSH_OUTCOME_UNSPECIFIED;
  int64_t version = 0;
};

// A row to write, and optionally the version it must replace (0: the record
// must not exist yet), for read-modify-write.
struct WriteRequest {
  RecordRow row;
  std::optional<int64_t> if_version;
};

// The event to append for a row that was created or updated. `request` is
// the element of the vector given to Write (its index identifies it).
using EventFor = std::function<absl::StatusOr<outbox::PendingEvent>(
    const WriteRequest& request, const WriteResult& result)>;

// Where a page of a patient's record ended (exclusive).
struct Cursor {
  absl::Time clinical_time;
  std::string organisation_id;
  Kind kind = Kind::kEncounter;
  std::string local_id;
};

// A patient's records, newest clinical time first, then by institution, kind
// and local ID (all descending). Entered-in-error records are left out.
struct RecordQuery {
  // The patient as every institution knows them.
  std::vector<xref::LocalId> patients;
  // The caller: its own rows (and referrals addressed to it) of `own_kinds`;
  // everyone else's of `shared_kinds` only.
  std::string caller_organisation;
  std::vector<Kind> own_kinds;
  std::vector<Kind> shared_kinds;
  absl::Time from = absl::InfinitePast();  // clinical_time >= from
  absl::Time to = absl::InfiniteFuture();  // clinical_time < to
  std::optional<Cursor> after;
  int limit = 100;
};

// The audit event for what a query returned; appended in the query's
// transaction.
using AuditFor = std::function<absl::StatusOr<outbox::PendingEvent>(
    const std::vector<StoredRecord>& returned)>;

class RecordStore {
 public:
  virtual ~RecordStore() = default;

  // Writes every request in one transaction, with the events `event_for`
  // gives for rows created or updated; all or nothing. Keys must be distinct
  // (INVALID_ARGUMENT otherwise). ABORTED when an if_version does not hold or
  // a concurrent writer created one of the records first: read and retry.
  virtual absl::StatusOr<std::vector<WriteResult>> Write(
      const std::vector<WriteRequest>& requests, const EventFor& event_for) = 0;

  // The current version, or nullopt.
  virtual absl::StatusOr<std::optional<StoredRecord>> Get(const RecordKey& key) = 0;

  // Every version, oldest first, the current one last; empty when unknown.
  virtual absl::StatusOr<std::vector<StoredRecord>> History(const RecordKey& key) = 0;

  // At most query.limit records; the audit event is appended in the same
  // transaction (the read fails if it cannot be).
  virtual absl::StatusOr<std::vector<StoredRecord>> Query(
      const RecordQuery& query, const AuditFor& audit_for) = 0;
};

}  // namespace meridian::records

#endif  // MERIDIAN_SERVICES_RECORDS_RECORD_STORE_H_
