#include "libs/pg/testing.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "pqxx/nontransaction"

namespace meridian::pg::testing {

std::string PgUri() {
  const char* uri = std::getenv("MERIDIAN_PG_URI");
  if (uri == nullptr || *uri == '\0') {
    std::cerr << "MERIDIAN_PG_URI is not set: run integration tests through "
                 "`tools/meridian test` (or `eval \"$(tools/meridian env)\"` "
                 "after `tools/meridian up`)."
              << std::endl;
    std::abort();
  }
  return uri;
}

ScratchSchema::ScratchSchema(absl::string_view prefix, int max_connections) {
  std::random_device rd;
  name_ = absl::StrCat(prefix, "_", getpid(), "_", rd() % 1000000);
  pqxx::connection conn(PgUri());
  pqxx::nontransaction tx(conn);
  tx.exec(absl::StrCat("CREATE SCHEMA ", tx.quote_name(name_)));
  pool_ = std::make_unique<Pool>(PoolOptions{.uri = PgUri(),
                                             .max_connections = max_connections,
                                             .search_path = name_});
}

PoolOptions ScratchSchema::pool_options() const { return pool_->options(); }

ScratchSchema::~ScratchSchema() {
  pool_.reset();
  try {
    pqxx::connection conn(PgUri());
    pqxx::nontransaction tx(conn);
    tx.exec(absl::StrCat("DROP SCHEMA IF EXISTS ", tx.quote_name(name_),
                         " CASCADE"));
  } catch (const std::exception& e) {
    std::cerr << "dropping scratch schema: " << e.what() << std::endl;
  }
}

}  // namespace meridian::pg::testing
