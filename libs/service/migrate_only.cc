#include "libs/service/migrate_only.h"

#include <iostream>

#include "libs/pg/pool.h"
#include "libs/service/log.h"

namespace meridian::service {

std::optional<int> MigrateOnlyIfAsked(config::Reader& cfg, const std::string& name,
                                      const std::string& schema,
                                      const std::vector<pg::MigrationSet>& migrations) {
  if (!cfg.Bool("MIGRATE_ONLY", false) || cfg.help_requested()) return std::nullopt;
  const std::string pg_uri = cfg.RequiredString("PG_URI");
  cfg.ExitIfInvalid();
  pg::Pool pool({.uri = pg_uri, .max_connections = 1, .search_path = schema,
                 .application_name = name + "-migrate"});
  absl::StatusOr<int> applied = pg::Migrate(pool, schema, migrations);
  if (!applied.ok()) return FailStart(name, applied.status());
  std::cout << "{\"level\":\"info\",\"service\":\"" << name << "\",\"schema\":\"" << schema
            << "\",\"migrations_applied\":" << *applied << "}" << std::endl;
  return 0;
}

}  // namespace meridian::service
