#include "libs/pg/migrate.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/ids/hash.h"
#include "libs/status/status_macros.h"

namespace meridian::pg {
namespace {

// Any constant shared by all Meridian migrators; one lock for every schema
// keeps CREATE SCHEMA races impossible.
constexpr int64_t kMigrationLockKey = 0x4d6572696469616e;  // "Meridian"

absl::Status ValidateSet(const MigrationSet& set) {
  std::vector<int> versions;
  for (const Migration& m : *set.migrations) versions.push_back(m.version);
  std::sort(versions.begin(), versions.end());
  if (std::adjacent_find(versions.begin(), versions.end()) != versions.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("migrations of ", set.component, ": duplicate version"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string Checksum(absl::string_view sql) { return ids::Sha256Hex(sql); }

absl::StatusOr<int> Migrate(Pool& pool, absl::string_view schema,
                            const std::vector<MigrationSet>& sets) {
  for (const MigrationSet& set : sets) MERIDIAN_RETURN_IF_ERROR(ValidateSet(set));
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<int> {
    tx.exec(absl::StrCat("SELECT pg_advisory_xact_lock(", kMigrationLockKey,
                         ")"));
    const std::string qschema = tx.quote_name(std::string(schema));
    tx.exec(absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", qschema));
    tx.exec(absl::StrCat("SET LOCAL search_path = ", qschema, ", public"));
    tx.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "  component text NOT NULL,"
        "  version integer NOT NULL,"
        "  name text NOT NULL,"
        "  checksum text NOT NULL,"
        "  applied_at timestamptz NOT NULL DEFAULT now(),"
        "  PRIMARY KEY (component, version))");
    std::map<std::pair<std::string, int>, std::string> applied;
    for (const auto& row :
         tx.exec("SELECT component, version, checksum FROM schema_migrations")) {
      applied[{row[0].as<std::string>(), row[1].as<int>()}] =
          row[2].as<std::string>();
    }
    int count = 0;
    for (const MigrationSet& set : sets) {
      std::vector<const Migration*> ordered;
      for (const Migration& m : *set.migrations) ordered.push_back(&m);
      std::sort(ordered.begin(), ordered.end(),
                [](auto* a, auto* b) { return a->version < b->version; });
      for (const Migration* m : ordered) {
        const std::string sum = Checksum(m->sql);
        auto it = applied.find({set.component, m->version});
        if (it != applied.end()) {
          if (it->second != sum) {
            return absl::FailedPreconditionError(absl::StrCat(
                "migration ", set.component, "/", m->version, "_", m->name,
                " in schema ", schema,
                " was changed after it was applied (recorded checksum ",
                it->second.substr(0, 12), ", now ", sum.substr(0, 12),
                "); add a new migration instead of editing an applied one"));
          }
          continue;
        }
        try {
          tx.exec(m->sql);
        } catch (...) {
          return status_internal::Annotate(
              StatusFromCurrentException(),
              absl::StrCat("migration ", set.component, "/", m->version, "_",
                           m->name));
        }
        tx.exec_params(
            "INSERT INTO schema_migrations (component, version, name, checksum)"
            " VALUES ($1, $2, $3, $4)",
            set.component, m->version, m->name, sum);
        ++count;
      }
    }
    return count;
  });
}

}  // namespace meridian::pg
