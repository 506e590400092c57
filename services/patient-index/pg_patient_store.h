// PatientStore on PostgreSQL (schema patient_index). LockKeys takes
// transaction-scoped advisory locks (in hash order, one statement);
// candidates come from the blocking_key index, capped per key.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_PG_PATIENT_STORE_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_PG_PATIENT_STORE_H_

#include <vector>

#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "services/patient-index/model.h"
#include "services/patient-index/patient_store.h"

namespace meridian::patient {

// The service's own migrations (plus outbox::MigrationSet()).
const std::vector<pg::Migration>& Migrations();
std::vector<pg::MigrationSet> AllMigrations();

class PgPatientStore : public PatientStore {
 public:
  // `pool`'s search_path must start with the patient index's schema.
  explicit PgPatientStore(pg::Pool* pool) : pool_(pool) {}

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

 private:
  pg::Pool* pool_;
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_PG_PATIENT_STORE_H_
