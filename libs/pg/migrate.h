// Versioned SQL migrations, checksummed and recorded.
//
// Each service owns one PostgreSQL schema. Migrations come in components (the
// service's own, plus shared ones such as libs/outbox's), each a list of
// numbered SQL scripts embedded at build time (cmake: meridian_sql_migrations).
// Migrate() applies the missing ones in version order, inside one transaction,
// with the schema first on the search_path, and records each as
// (component, version, name, sha256) in <schema>.schema_migrations.
//
// Safe when several replicas start at once: a transaction-scoped advisory lock
// serialises migrators, and the loser sees the winner's rows. A migration whose
// text changed after it was applied is refused (FAILED_PRECONDITION naming it)
// rather than silently diverging.
#ifndef MERIDIAN_LIBS_PG_MIGRATE_H_
#define MERIDIAN_LIBS_PG_MIGRATE_H_

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "libs/pg/pool.h"

namespace meridian::pg {

struct Migration {
  int version;       // from the file name, 0001_create_outbox.sql -> 1
  std::string name;  // "create_outbox"
  std::string sql;
};

struct MigrationSet {
  std::string component;  // e.g. "outbox", "patient_index"
  const std::vector<Migration>* migrations;
};

// Returns how many migrations were applied by this call.
absl::StatusOr<int> Migrate(Pool& pool, absl::string_view schema,
                            const std::vector<MigrationSet>& sets);

// Hex SHA-256 of a migration's SQL, as recorded.
std::string Checksum(absl::string_view sql);

}  // namespace meridian::pg

#endif  // MERIDIAN_LIBS_PG_MIGRATE_H_
