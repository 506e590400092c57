// PatientStore on PostgreSQL (schema patient_index). LockKeys takes
// transaction-scoped advisory locks (in hash order, one statement);
// candidates come from a KeyIndex in memory (every committed record's
// blocking keys, loaded at start and caught up with what other transactions
// committed, one statement, before each lookup), capped per key, with their
// match fields from a CandidateCache where it holds them.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_PG_PATIENT_STORE_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_PG_PATIENT_STORE_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/synchronization/mutex.h"

#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "services/patient-index/candidate_cache.h"
#include "services/patient-index/key_index.h"
#include "services/patient-index/model.h"
#include "services/patient-index/patient_store.h"

namespace meridian::patient {

// The service's own migrations (plus outbox::MigrationSet()).
const std::vector<pg::Migration>& Migrations();
std::vector<pg::MigrationSet> AllMigrations();

namespace internal {
// The catch-up statement ($1 the horizon's xmax, $2 its in-progress IDs, $3
// the largest xid8 to ask for), for tests of its plan.
const std::string& CatchUpSql();

// Source record IDs reserved from the sequence and not yet used, shared by
// a store's units: a unit takes its IDs from here and reserves a batch only
// when too few are left (a statement per batch instead of one per group).
// IDs taken and not used come back; a unit that rolls back after writing
// with one wastes it, as the sequence would.
class SpareIds {
 public:
  // Moves `n` IDs (ascending) to the end of `out` if there are that many.
  bool Take(size_t n, std::deque<int64_t>& out);
  // Adds `ids` (ascending), leaving `ids` empty.
  void Give(std::deque<int64_t>& ids);

 private:
  absl::Mutex mu_;
  std::deque<int64_t> ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal

class PgPatientStore : public PatientStore {
 public:
  // `pool`'s search_path must start with the patient index's schema.
  // `cache_entries`: how many candidates' match fields to keep in memory
  // (about 200 bytes each); 0 turns the cache off.
  explicit PgPatientStore(pg::Pool* pool, size_t cache_entries = 2'000'000)
      : pool_(pool), cache_(cache_entries) {}

  absl::Status Run(const std::function<absl::Status(PatientUnit&)>& fn) override;
  absl::StatusOr<std::optional<StoredRecord>> FindSource(
      const std::string& organisation_id, const std::string& local_id) override;
  absl::StatusOr<std::vector<StoredRecord>> RecordsOf(
      const std::string& regional_id) override;
  absl::StatusOr<std::vector<StoredRecord>> Candidates(const MatchRecord& r,
                                                       int per_key,
                                                       int total) override;
  absl::StatusOr<std::vector<ReviewTaskRow>> OpenReviewTasks(
      const std::string& after_id, int limit) override;
  absl::StatusOr<StoredRecord> RecordById(int64_t id) override;
  absl::StatusOr<std::string> ResolveIdentity(const std::string& regional_id) override;

  // Offline model maintenance (not part of PatientStore).
  // Every source record's match fields.
  absl::StatusOr<std::vector<MatchRecord>> AllMatchRecords();
  absl::Status SaveModel(const std::string& parameters, int records, int pairs);
  // Value counts of the term-frequency fields, computed in the database.
  absl::StatusOr<TermFrequencies> LoadTermFrequencies();
  // The newest saved parameters, or "" when none.
  absl::StatusOr<std::string> LoadModel();

  // Loads every record's blocking keys into the key index, and the newest
  // records' match fields into the candidate cache (up to its capacity), as
  // of one snapshot; returns how many records it read. Call it before
  // serving (the first unit or lookup loads otherwise, and waits for it).
  absl::StatusOr<int64_t> Load();
  const KeyIndex& key_index() const { return index_; }
  const CandidateCache& cache() const { return cache_; }

 private:
  absl::Status EnsureLoaded();
  absl::StatusOr<int64_t> LoadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(load_mu_);

  pg::Pool* pool_;
  KeyIndex index_;
  CandidateCache cache_;
  absl::Mutex load_mu_;  // one Load at a time
  internal::SpareIds spare_ids_;
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_PG_PATIENT_STORE_H_
