// Storage for the patient index, behind an interface: PgPatientStore
// (pg_patient_store.h) in production and in the integration tests,
// InMemoryPatientStore for unit tests; both are held to one contract test
// (patient_store_test.cc).
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_PATIENT_STORE_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_PATIENT_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "libs/outbox/outbox.h"
#include "meridian/patient/v1/patient_index.pb.h"
#include "services/patient-index/match_record.h"

namespace meridian::patient {

// A source record: one institution's registration of one patient.
struct StoredRecord {
  int64_t id = 0;  // assigned by the store
  std::string organisation_id;
  std::string local_id;
  std::string regional_id;
  v1::RegisterPatientRequest request;    // normalised, as registered
  v1::RegisterPatientResponse response;  // the answer given for it
  MatchRecord match;                     // derived from `request`
  std::string request_hash;              // of the request as received
};

struct ReviewTaskRow {
  std::string id;
  int64_t record_id = 0;
  int64_t candidate_id = 0;
  double probability = 0;
  int64_t created_at = 0;  // seconds since the epoch
};

struct MergeRow {
  std::string id;
  std::string from_regional_id;
  std::string into_regional_id;
  std::vector<int64_t> record_ids;  // the records the merge moved
};

// The writes of one registration, applied atomically.
class PatientUnit {
 public:
  virtual ~PatientUnit() = default;
  // Serialises this unit with every other unit that locks any of `keys`,
  // until it ends (transaction-scoped). Locks are taken in one fixed order,
  // so units cannot deadlock on them.
  virtual absl::Status LockKeys(const std::vector<std::string>& keys) = 0;
  // The record, locked for update.
  virtual absl::StatusOr<std::optional<StoredRecord>> FindSource(
      const std::string& organisation_id, const std::string& local_id) = 0;
  // Records sharing a blocking key with `r` (capped per key and overall):
  // IDs, regional ID and match fields only (request and response unset).
  virtual absl::StatusOr<std::vector<StoredRecord>> Candidates(
      const MatchRecord& r, int per_key, int total) = 0;
  // Inserts (id == 0) or replaces the record and its blocking keys; sets id.
  virtual absl::Status SaveSource(StoredRecord& record) = 0;
  virtual absl::Status CreateIdentity(const std::string& regional_id) = 0;
  // Opens review task `task.id` (a new UUID) for `task.record_id` against
  // `task.candidate_id`. One open for that pair already fails the unit with
  // ALREADY_EXISTS: here, or at the commit where a store writes tasks then.
  virtual absl::Status CreateReviewTask(const ReviewTaskRow& task) = 0;

  // Batch forms, for registrations that commit together: one statement each
  // in PostgreSQL. The defaults call the single forms in turn.
  //
  // FindSource of each (organisation, local ID), in order.
  virtual absl::StatusOr<std::vector<std::optional<StoredRecord>>> FindSources(
      const std::vector<std::pair<std::string, std::string>>& sources);
  // Candidates of each record, in order.
  virtual absl::StatusOr<std::vector<std::vector<StoredRecord>>> CandidatesOfEach(
      const std::vector<const MatchRecord*>& records, int per_key, int total);
  // LockIdentity of each regional ID, in order.
  virtual absl::StatusOr<std::vector<std::string>> LockIdentities(
      const std::vector<std::string>& regional_ids);
  // LockIdentities for identities read from committed records, which are
  // live unless a merge committed since (a merge moves the records first).
  // A store may answer at once that each is live and lock and check them
  // with its writes instead (a round trip fewer): the unit then fails
  // ABORTED, to be run again from the start, if one was merged meanwhile.
  // Only for identities already committed, not ones this unit creates.
  virtual absl::StatusOr<std::vector<std::string>> LockIdentitiesLazily(
      const std::vector<std::string>& regional_ids) {
    return LockIdentities(regional_ids);
  }
  // SaveSource of each record.
  virtual absl::Status SaveSources(const std::vector<StoredRecord*>& records);
  // CreateReviewTask of each.
  virtual absl::Status CreateReviewTasks(const std::vector<ReviewTaskRow>& tasks);

  // Records `a` and `b` must never be auto-linked.
  virtual absl::Status KeepApart(int64_t a, int64_t b) = 0;
  // The records kept apart from `record_id`.
  virtual absl::StatusOr<std::vector<int64_t>> KeptApartFrom(int64_t record_id) = 0;
  // An open review task, locked for resolution; NOT_FOUND when there is no
  // open task with that ID.
  virtual absl::StatusOr<ReviewTaskRow> TakeOpenReviewTask(const std::string& id) = 0;
  virtual absl::StatusOr<StoredRecord> RecordById(int64_t id) = 0;
  // Closes the record's open review tasks as superseded (it was updated).
  virtual absl::Status SupersedeReviewTasks(int64_t record_id) = 0;
  virtual absl::Status CloseReviewTask(const std::string& id,
                                       const std::string& resolution,
                                       const std::string& resolved_by,
                                       const std::string& reason) = 0;
  // Source records of `regional_id`, locked for update, oldest first.
  virtual absl::StatusOr<std::vector<StoredRecord>> LockRecordsOf(
      const std::string& regional_id) = 0;
  // Where a retired identity was merged into ("" when it is live); NOT_FOUND
  // when the identity does not exist. Locks the identity row.
  virtual absl::StatusOr<std::string> LockIdentity(const std::string& regional_id) = 0;
  virtual absl::Status SetMergedInto(const std::string& regional_id,
                                     const std::string& into) = 0;
  virtual absl::StatusOr<std::string> RecordMerge(const MergeRow& merge,
                                                  const std::string& by,
                                                  const std::string& reason) = 0;
  // A merge not undone yet, locked; NOT_FOUND otherwise.
  virtual absl::StatusOr<MergeRow> TakeMerge(const std::string& merge_id) = 0;
  virtual absl::Status MarkUnmerged(const std::string& merge_id,
                                    const std::string& by,
                                    const std::string& reason) = 0;
  // Appends an event to the outbox in the same transaction (INVALID_ARGUMENT
  // when the header lacks topic, type or key).
  virtual absl::Status Emit(const outbox::EventHeader& header,
                            const google::protobuf::Message& payload) = 0;
};

class PatientStore {
 public:
  virtual ~PatientStore() = default;
  // Runs `fn` atomically (a transaction; retried on serialization failure,
  // so `fn` may run more than once).
  virtual absl::Status Run(const std::function<absl::Status(PatientUnit&)>& fn) = 0;
  virtual absl::StatusOr<std::optional<StoredRecord>> FindSource(
      const std::string& organisation_id, const std::string& local_id) = 0;
  // Every source record linked to `regional_id`, oldest first.
  virtual absl::StatusOr<std::vector<StoredRecord>> RecordsOf(
      const std::string& regional_id) = 0;
  virtual absl::StatusOr<std::vector<StoredRecord>> Candidates(
      const MatchRecord& r, int per_key, int total) = 0;
  // Open review tasks, oldest first, after task `after_id` (empty: from the
  // start), at most `limit`.
  virtual absl::StatusOr<std::vector<ReviewTaskRow>> OpenReviewTasks(
      const std::string& after_id, int limit) = 0;
  virtual absl::StatusOr<StoredRecord> RecordById(int64_t id) = 0;
  // The identity a retired one was merged into, following chains; the ID
  // itself when live; NOT_FOUND when unknown.
  virtual absl::StatusOr<std::string> ResolveIdentity(const std::string& regional_id) = 0;
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_PATIENT_STORE_H_
