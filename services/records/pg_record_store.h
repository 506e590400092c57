// The PostgreSQL RecordStore (tables in migrations/). A write locks the
// records that exist in one statement, moves changed ones' current versions
// to the history, and COPYs new records straight into the table: a batch of
// new records costs one lookup and one COPY (plus the outbox's COPY).
#ifndef MERIDIAN_SERVICES_RECORDS_PG_RECORD_STORE_H_
#define MERIDIAN_SERVICES_RECORDS_PG_RECORD_STORE_H_

#include <vector>

#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "services/records/record_store.h"

namespace meridian::records {

// The records component's migrations, and the schema's full set: outbox,
// xref, records.
const std::vector<pg::Migration>& Migrations();
std::vector<pg::MigrationSet> AllMigrations();

class PgRecordStore : public RecordStore {
 public:
  // `pool`'s search_path must start with the service's schema.
  explicit PgRecordStore(pg::Pool* pool) : pool_(pool) {}

  absl::StatusOr<std::vector<WriteResult>> Write(
      const std::vector<WriteRequest>& requests, const EventFor& event_for) override;
  absl::StatusOr<std::optional<StoredRecord>> Get(const RecordKey& key) override;
  absl::StatusOr<std::vector<StoredRecord>> History(const RecordKey& key) override;
  absl::StatusOr<std::vector<StoredRecord>> Query(const RecordQuery& query,
                                                  const AuditFor& audit_for) override;

 private:
  pg::Pool* pool_;
};

// COPYs `rows` as first versions (version 1) into `table`, which has the
// columns of the record table: what the ingest benchmark's baseline loads.
void CopyFirstVersions(pqxx::work& tx, const std::string& table,
                       const std::vector<const RecordRow*>& rows);

}  // namespace meridian::records

#endif  // MERIDIAN_SERVICES_RECORDS_PG_RECORD_STORE_H_
