// Storage of prescriptions: one interface, a PostgreSQL implementation
// (pg_prescription_store.h) and an in-memory one, held to one contract test
// (prescription_store_test.cc).
//
// A prescription is one row keyed by its regional prescription ID and unique
// on (issuing institution, local ID), holding the serialized
// v1::Prescription (the truth, with its items, dispensings and state) and the
// few columns reads filter on. Every state change goes through Update, which
// holds the row's lock while the caller's function decides: two pharmacies
// dispensing at once are serialised, so together they never exceed what was
// prescribed.
#ifndef MERIDIAN_SERVICES_PRESCRIPTIONS_PRESCRIPTION_STORE_H_
#define MERIDIAN_SERVICES_PRESCRIPTIONS_PRESCRIPTION_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/outbox/outbox.h"
#include "libs/xref/xref.h"
#include "meridian/prescriptions/v1/prescriptions.pb.h"

namespace meridian::prescriptions {


struct StoredPrescription {
  // prescription_id, organisation_id, local_id, patient_local_id, status,
  // issued_at and expires_at are read from here into the filter columns.
  v1::Prescription prescription;
  std::string verification_code;
  // Fingerprint of the issuing request (idempotent replays compare it).
  std::string request_hash;
  // When the therapy of its longest item ends (issued_at + days): the
  // prescription is "active" for safety checks until then unless it was
  // cancelled or expired undispensed.
  absl::Time active_until;
  // Bumped by every Update; 1 when inserted.
  int64_t version = 0;
};

// Where a page of a patient's prescriptions ended (exclusive).
struct Cursor {
  absl::Time issued_at;
  std::string prescription_id;
};

// A patient's prescriptions, newest issued_at first, then prescription ID
// descending.
struct PatientQuery {
  // The patient as every institution knows them.
  std::vector<xref::LocalId> patients;
  // Every institution's rows when true; only `caller_organisation`'s rows
  // otherwise.
  bool include_other_institutions = true;
  std::string caller_organisation;
  // Only rows with active_until > active_at that are not CANCELLED (an
  // EXPIRED one may have been dispensed in part: the patient takes it).
  std::optional<absl::Time> active_at;
  std::optional<Cursor> after;
  int limit = 100;
};

// The audit event for what a query returned; appended in the query's
// transaction (the read fails if it cannot be). Null: no audit event.
using AuditFor = std::function<absl::StatusOr<outbox::PendingEvent>(
    const std::vector<StoredPrescription>& returned)>;

// Decides a change of one prescription while its row is locked: modifies
// `rx` in place (or leaves it alone: the row is not written) and adds the
// events to append, which are appended either way (a read under the lock
// appends its audit event this way). An error aborts: nothing is written. It may not change the prescription ID, institution or
// local ID (INVALID_ARGUMENT); `version` is the store's.
using Mutation = std::function<absl::Status(StoredPrescription& rx,
                                            std::vector<outbox::PendingEvent>* events)>;

class PrescriptionStore {
 public:
  virtual ~PrescriptionStore() = default;

  // Inserts `rx` (version 1) with `events` in one transaction, and returns
  // it. When (organisation, local ID) exists already, writes nothing and
  // returns the existing one with `inserted` false. ALREADY_EXISTS when the
  // prescription ID is taken by another row.
  struct InsertResult {
    StoredPrescription stored;
    bool inserted = false;
  };
  virtual absl::StatusOr<InsertResult> Insert(
      const StoredPrescription& rx, const std::vector<outbox::PendingEvent>& events) = 0;

  virtual absl::StatusOr<std::optional<StoredPrescription>> Get(
      const std::string& prescription_id) = 0;
  virtual absl::StatusOr<std::optional<StoredPrescription>> FindByLocal(
      const std::string& organisation_id, const std::string& local_id) = 0;

  // Locks the row, runs `mutate`, stores the prescription (version + 1) if
  // it changed and appends the events, all in one transaction.
  // Returns the prescription as it stands afterwards. NOT_FOUND for an
  // unknown ID; `mutate`'s error as it is. `mutate` may run again if the
  // transaction is retried.
  virtual absl::StatusOr<StoredPrescription> Update(const std::string& prescription_id,
                                                    const Mutation& mutate) = 0;

  // At most query.limit prescriptions; `audit_for`'s event in the same
  // transaction.
  virtual absl::StatusOr<std::vector<StoredPrescription>> Query(
      const PatientQuery& query, const AuditFor& audit_for) = 0;

  // IDs of up to `limit` prescriptions in ISSUED, VERIFIED or
  // PARTIALLY_DISPENSED whose expires_at <= now, oldest expiry first.
  virtual absl::StatusOr<std::vector<std::string>> DueToExpire(absl::Time now,
                                                               int limit) = 0;
};

}  // namespace meridian::prescriptions

#endif  // MERIDIAN_SERVICES_PRESCRIPTIONS_PRESCRIPTION_STORE_H_
