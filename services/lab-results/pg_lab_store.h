// The PostgreSQL LabStore (tables in migrations/). A write locks the report's
// row (SELECT ... FOR UPDATE) from comparing it to storing the new version,
// so concurrent writers of one report are serialised and none is lost. Of two
// writers creating the same report, the loser of the primary key race is
// retried (by Transact, as ABORTED) and finds the row to update.
#ifndef MERIDIAN_SERVICES_LAB_RESULTS_PG_LAB_STORE_H_
#define MERIDIAN_SERVICES_LAB_RESULTS_PG_LAB_STORE_H_

#include <vector>

#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "services/lab-results/lab_store.h"

namespace meridian::labs {

// The lab-results component's migrations, and the schema's full set: outbox,
// xref, lab_results.
const std::vector<pg::Migration>& Migrations();
std::vector<pg::MigrationSet> AllMigrations();

class PgLabStore : public LabStore {
 public:
  // `pool`'s search_path must start with the service's schema.
  explicit PgLabStore(pg::Pool* pool) : pool_(pool) {}

  absl::StatusOr<WriteResult> Write(const ReportRow& row, const EventsFor& events_for) override;
  absl::StatusOr<std::optional<StoredReport>> Get(const std::string& organisation_id,
                                                  const std::string& local_id) override;
  absl::StatusOr<std::vector<StoredReport>> History(const std::string& organisation_id,
                                                    const std::string& local_id) override;
  absl::StatusOr<std::vector<StoredReport>> Query(const ReportQuery& query,
                                                  const ReadEventsFor& events_for) override;

 private:
  pg::Pool* pool_;
};

}  // namespace meridian::labs

#endif  // MERIDIAN_SERVICES_LAB_RESULTS_PG_LAB_STORE_H_
