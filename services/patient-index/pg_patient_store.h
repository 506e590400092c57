// PatientStore on PostgreSQL (schema patient_index). LockKeys takes
// transaction-scoped advisory locks (in hash order, one statement);
// candidates come from the blocking_hash index, capped per key, with their
// match fields from a CandidateCache where it holds them.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_PG_PATIENT_STORE_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_PG_PATIENT_STORE_H_

#include <atomic>
#include <vector>

#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "services/patient-index/candidate_cache.h"
#include "services/patient-index/model.h"
#include "services/patient-index/patient_store.h"

namespace meridian::patient {

// The service's own migrations (plus outbox::MigrationSet()).
const std::vector<pg::Migration>& Migrations();
std::vector<pg::MigrationSet> AllMigrations();

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

  // Fills the candidate cache from source_record, newest records first, up
  // to its capacity, in chunks; returns how many it loaded. Stops early
  // (OK) once `stop` is set. Safe while the store serves: the cache keeps
  // the newer of two versions.
  absl::StatusOr<int64_t> WarmCache(const std::atomic<bool>& stop);
  const CandidateCache& cache() const { return cache_; }

 private:
  pg::Pool* pool_;
  CandidateCache cache_;
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_PG_PATIENT_STORE_H_
