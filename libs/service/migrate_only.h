// --migrate_only=true: a service's schema migrations without the service.
//
// Kubernetes runs each service's migrations in a pre-install/pre-upgrade Job
// (helm/meridian) with the service's own image and database settings, so a
// new version's schema is in place, once, before any new pod starts. The
// same binary then runs with MIGRATE_ONLY unset:
//
//   config::Reader cfg = config::Reader::FromProcess(argc, argv);
//   if (std::optional<int> code = service::MigrateOnlyIfAsked(cfg, "consent",
//           "consent", consent::AllMigrations())) {
//     return *code;
//   }
//
// Migrations stay safe to run again and from several processes at once
// (pg::Migrate's advisory lock), so a service that starts before the Job is
// done, or without one (tools/meridian up), migrates as before.
#ifndef MERIDIAN_LIBS_SERVICE_MIGRATE_ONLY_H_
#define MERIDIAN_LIBS_SERVICE_MIGRATE_ONLY_H_

#include <optional>
#include <string>
#include <vector>

#include "libs/config/config.h"
#include "libs/pg/migrate.h"

namespace meridian::service {

// Reads MIGRATE_ONLY (false). When it is true and --help was not asked for,
// applies `migrations` to `schema` with PG_URI and returns the process's
// exit code: 0 when the schema is current, 1 (one JSON line on stderr) when
// not, 2 for bad settings. Otherwise nullopt: run the service. Call it
// before reading the service's other settings: the Job needs none of them.
std::optional<int> MigrateOnlyIfAsked(config::Reader& cfg, const std::string& name,
                                      const std::string& schema,
                                      const std::vector<pg::MigrationSet>& migrations);

}  // namespace meridian::service

#endif  // MERIDIAN_LIBS_SERVICE_MIGRATE_ONLY_H_
