// Runs against the real PostgreSQL (MERIDIAN_PG_URI).
#include "libs/pg/migrate.h"

#include <sys/wait.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/pg/testing.h"
#include "libs/status/status_matchers.h"
#include "pqxx/nontransaction"

namespace meridian::pg {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Not idempotent on purpose: applying 0001 twice would fail on CREATE TABLE,
// and the insert counts how often it ran.
const std::vector<Migration> kV1 = {
    {1, "create_ledger",
     "CREATE TABLE ledger (id serial PRIMARY KEY, note text);"
     "SELECT pg_sleep(0.3);"
     "INSERT INTO ledger (note) VALUES ('applied');"},
};
const std::vector<Migration> kV2 = {
    kV1[0],
    {2, "add_column", "ALTER TABLE ledger ADD COLUMN extra int;"},
};

int64_t Count(Pool& pool, absl::string_view sql) {
  return *pool.Transact([&](pqxx::work& tx) {
    return tx.exec1(std::string(sql))[0].as<int64_t>();
  });
}

class MigrateTest : public ::testing::Test {
 protected:
  testing::ScratchSchema schema_{"mig"};
};

TEST_F(MigrateTest, AppliesOnceAndRecords) {
  Pool& pool = schema_.pool();
  EXPECT_EQ(*Migrate(pool, schema_.name(), {{"test", &kV1}}), 1);
  EXPECT_EQ(*Migrate(pool, schema_.name(), {{"test", &kV1}}), 0);
  EXPECT_EQ(*Migrate(pool, schema_.name(), {{"test", &kV2}}), 1);
  EXPECT_EQ(Count(pool, "SELECT count(*) FROM ledger"), 1);
  EXPECT_EQ(Count(pool, "SELECT count(*) FROM schema_migrations"), 2);
  auto sum = pool.Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT checksum FROM schema_migrations WHERE version = 1")[0]
        .as<std::string>();
  });
  EXPECT_EQ(*sum, Checksum(kV1[0].sql));
}

TEST_F(MigrateTest, ComponentsAreIndependent) {
  const std::vector<Migration> other = {
      {1, "create_other", "CREATE TABLE other (id int);"}};
  EXPECT_EQ(*Migrate(schema_.pool(), schema_.name(),
                     {{"test", &kV1}, {"other", &other}}),
            2);
}

TEST_F(MigrateTest, ChangedAppliedMigrationIsRefused) {
  Pool& pool = schema_.pool();
  ASSERT_OK(Migrate(pool, schema_.name(), {{"test", &kV1}}));
  std::vector<Migration> edited = kV1;
  edited[0].sql += " -- edited";
  EXPECT_THAT(Migrate(pool, schema_.name(), {{"test", &edited}}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("test/1_create_ledger"),
                             HasSubstr("was changed after it was applied"))));
}

TEST_F(MigrateTest, FailingMigrationIsNamedAndLeavesNothing) {
  const std::vector<Migration> bad = {
      {1, "ok", "CREATE TABLE fine (id int);"},
      {2, "broken", "CREATE TABLE broken (id nosuchtype);"}};
  EXPECT_THAT(Migrate(schema_.pool(), schema_.name(), {{"test", &bad}}),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("migration test/2_broken")));
  EXPECT_EQ(Count(schema_.pool(),
                  "SELECT count(*) FROM pg_tables WHERE tablename = 'fine'"
                  " AND schemaname = current_schema()"),
            0);
}

TEST_F(MigrateTest, DuplicateVersionsAreRejected) {
  const std::vector<Migration> dup = {{1, "a", "SELECT 1;"},
                                      {1, "b", "SELECT 1;"}};
  EXPECT_THAT(Migrate(schema_.pool(), schema_.name(), {{"test", &dup}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MigrateConcurrently, TwoProcessesApplyOnce) {
  // A fresh schema that neither process has seen: both race to create it.
  const std::string schema = absl::StrCat("migrace_", getpid());
  pid_t children[2];
  for (pid_t& child : children) {
    child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      Pool pool(PoolOptions{.uri = testing::PgUri(), .max_connections = 1});
      absl::StatusOr<int> n = Migrate(pool, schema, {{"test", &kV1}});
      _exit(n.ok() ? 10 + *n : 1);
    }
  }
  int applied = 0;
  for (pid_t child : children) {
    int wstatus = 0;
    ASSERT_EQ(waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFEXITED(wstatus));
    int code = WEXITSTATUS(wstatus);
    ASSERT_GE(code, 10) << "a migrator failed";
    applied += code - 10;
  }
  EXPECT_EQ(applied, 1);  // one applied it, the other found it done
  Pool pool(PoolOptions{.uri = testing::PgUri(), .search_path = schema});
  EXPECT_EQ(Count(pool, "SELECT count(*) FROM ledger"), 1);
  EXPECT_EQ(Count(pool, "SELECT count(*) FROM schema_migrations"), 1);
  ASSERT_OK(pool.Transact([&](pqxx::work& tx) {
    tx.exec("DROP SCHEMA " + tx.quote_name(schema) + " CASCADE");
    return absl::OkStatus();
  }));
}

}  // namespace
}  // namespace meridian::pg
