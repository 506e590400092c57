// The PostgreSQL PrescriptionStore (table in migrations/). Update holds the
// row's lock (SELECT ... FOR UPDATE) from reading the prescription to
// writing it back, so concurrent read-modify-writes of one prescription are
// serialised.
#ifndef MERIDIAN_SERVICES_PRESCRIPTIONS_PG_PRESCRIPTION_STORE_H_
#define MERIDIAN_SERVICES_PRESCRIPTIONS_PG_PRESCRIPTION_STORE_H_

#include <vector>

#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "services/prescriptions/prescription_store.h"

namespace meridian::prescriptions {

// The prescriptions component's migrations, and the schema's full set:
// outbox, xref, prescriptions.
const std::vector<pg::Migration>& Migrations();
std::vector<pg::MigrationSet> AllMigrations();

class PgPrescriptionStore : public PrescriptionStore {
 public:
  // `pool`'s search_path must start with the service's schema.
  explicit PgPrescriptionStore(pg::Pool* pool) : pool_(pool) {}

  absl::StatusOr<InsertResult> Insert(const StoredPrescription& rx,
                                      const std::vector<outbox::PendingEvent>& events) override;
  absl::StatusOr<std::optional<StoredPrescription>> Get(
      const std::string& prescription_id) override;
  absl::StatusOr<std::optional<StoredPrescription>> FindByLocal(
      const std::string& organisation_id, const std::string& local_id) override;
  absl::StatusOr<StoredPrescription> Update(const std::string& prescription_id,
                                            const Mutation& mutate) override;
  absl::StatusOr<std::vector<StoredPrescription>> Query(const PatientQuery& query,
                                                        const AuditFor& audit_for) override;
  absl::StatusOr<std::vector<std::string>> DueToExpire(absl::Time now, int limit) override;

 private:
  pg::Pool* pool_;
};

}  // namespace meridian::prescriptions

#endif  // MERIDIAN_SERVICES_PRESCRIPTIONS_PG_PRESCRIPTION_STORE_H_
