// Helpers for tests that run against the real PostgreSQL started by
// `tools/meridian up` (MERIDIAN_PG_URI).
#ifndef MERIDIAN_LIBS_PG_TESTING_H_
#define MERIDIAN_LIBS_PG_TESTING_H_

#include <string>

#include "libs/pg/pool.h"

namespace meridian::pg::testing {

// MERIDIAN_PG_URI; aborts the test binary with a clear message when unset
// (integration tests never skip silently).
std::string PgUri();

// A schema with a unique name, dropped (CASCADE) on destruction, and a pool
// whose search_path starts with it.
class ScratchSchema {
 public:
  explicit ScratchSchema(absl::string_view prefix = "t", int max_connections = 4);
  ~ScratchSchema();
  const std::string& name() const { return name_; }
  Pool& pool() { return *pool_; }
  PoolOptions pool_options() const;

 private:
  std::string name_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace meridian::pg::testing

#endif  // MERIDIAN_LIBS_PG_TESTING_H_
