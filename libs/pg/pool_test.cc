// Runs against the real PostgreSQL (MERIDIAN_PG_URI).
#include "libs/pg/pool.h"

#include <libpq-fe.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <thread>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/pg/copy.h"
#include "libs/pg/sql.h"
#include "libs/pg/testing.h"
#include "libs/status/status_matchers.h"
#include "pqxx/nontransaction"

namespace meridian::pg {
namespace {

using ::meridian::testing::IsOk;
using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(schema_.pool().Transact([](pqxx::work& tx) {
      tx.exec("CREATE TABLE person (id int PRIMARY KEY, name text UNIQUE)");
      tx.exec("CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)");
      tx.exec("INSERT INTO counter VALUES (1, 0)");
      return absl::OkStatus();
    }));
  }
  testing::ScratchSchema schema_{"pool"};
};

TEST_F(PoolTest, ReadRunsAutocommitStatementsWithTheSameErrorMapping) {
  Pool& pool = schema_.pool();
  ASSERT_OK(pool.Transact([](pqxx::work& tx) {
    tx.exec_params("INSERT INTO person VALUES ($1, $2)", 7, "R");
    return absl::OkStatus();
  }));
  absl::StatusOr<std::string> name = pool.Read([](pqxx::nontransaction& tx) {
    return ExecPrepared(tx, "pool_test_read", "SELECT name FROM person WHERE id = $1", 7)[0][0]
        .as<std::string>();
  });
  ASSERT_OK(name);
  EXPECT_EQ(*name, "R");
  // No transaction around it: txid_current_if_assigned() is null for a read.
  EXPECT_TRUE(*pool.Read([](pqxx::nontransaction& tx) {
    return tx.exec1("SELECT txid_current_if_assigned() IS NULL")[0].as<bool>();
  }));
  EXPECT_THAT(pool.Read([](pqxx::nontransaction& tx) {
                return tx.exec1("SELECT 1 / 0")[0].as<int>();
              }).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(PoolTest, ReturnsValuesAndCommits) {
  Pool& pool = schema_.pool();
  ASSERT_OK(pool.Transact([](pqxx::work& tx) {
    tx.exec_params("INSERT INTO person VALUES ($1, $2)", 1, "A");
    return absl::OkStatus();
  }));
  absl::StatusOr<int64_t> n = pool.Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FROM person")[0].as<int64_t>();
  });
  ASSERT_OK(n);
  EXPECT_EQ(*n, 1);
}

TEST_F(PoolTest, ErrorStatusRollsBack) {
  Pool& pool = schema_.pool();
  absl::Status s = pool.Transact([](pqxx::work& tx) {
    tx.exec_params("INSERT INTO person VALUES ($1, $2)", 1, "A");
    return absl::InvalidArgumentError("name: rejected");
  });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  auto n = pool.Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FROM person")[0].as<int64_t>();
  });
  EXPECT_EQ(*n, 0);
}

TEST_F(PoolTest, UniqueViolationIsAlreadyExistsWithoutRowValues) {
  Pool& pool = schema_.pool();
  auto insert = [&](int id) {
    return pool.Transact([id](pqxx::work& tx) {
      tx.exec_params("INSERT INTO person VALUES ($1, $2)", id,
                     "Zhang Secretname");
      return absl::OkStatus();
    });
  };
  ASSERT_OK(insert(1));
  absl::Status s = insert(2);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists,
                          HasSubstr("duplicate key")));
  // PostgreSQL's DETAIL line quotes the value; it must not reach callers.
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("Secretname")));
}

TEST_F(PoolTest, SyntaxAndDataErrorsAreMapped) {
  Pool& pool = schema_.pool();
  EXPECT_THAT(pool.Transact([](pqxx::work& tx) {
                tx.exec("SELECT 1/0");
                return absl::OkStatus();
              }),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(pool.Transact([](pqxx::work& tx) {
                tx.exec("SELEC nonsense");
                return absl::OkStatus();
              }),
              StatusIs(absl::StatusCode::kInternal));
}

TEST_F(PoolTest, SerializationFailuresAreRetried) {
  Pool& pool = schema_.pool();
  std::atomic<int> attempts{0};
  constexpr int kThreads = 4;
  constexpr int kIncrements = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        absl::Status s = pool.Transact(
            [&](pqxx::work& tx) {
              ++attempts;
              int n = tx.exec1("SELECT n FROM counter WHERE id = 1")[0]
                          .as<int>();
              tx.exec_params("UPDATE counter SET n = $1 WHERE id = 1", n + 1);
              return absl::OkStatus();
            },
            TxnOptions{.isolation = Isolation::kSerializable,
                       .max_attempts = 50});
        if (!s.ok()) {
          ++failures;
          ADD_FAILURE() << s;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto n = pool.Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT n FROM counter WHERE id = 1")[0].as<int>();
  });
  EXPECT_EQ(*n, kThreads * kIncrements);  // no lost update
  EXPECT_GT(attempts.load(), kThreads * kIncrements);  // some were retried
}

TEST_F(PoolTest, StatementTimeoutIsDeadlineExceeded) {
  PoolOptions opts = schema_.pool_options();
  opts.statement_timeout = absl::Milliseconds(100);
  Pool pool(opts);
  EXPECT_THAT(pool.Transact([](pqxx::work& tx) {
                tx.exec("SELECT pg_sleep(2)");
                return absl::OkStatus();
              }),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(PoolTest, GenericPlansAreAskedForOnlyWhereSet) {
  auto mode = [](Pool& pool) {
    return *pool.Read([](pqxx::nontransaction& tx) {
      return tx.exec1("SHOW plan_cache_mode")[0].as<std::string>();
    });
  };
  EXPECT_EQ(mode(schema_.pool()), "auto");
  PoolOptions opts = schema_.pool_options();
  opts.generic_plans = true;
  Pool generic(opts);
  EXPECT_EQ(mode(generic), "force_generic_plan");
}

TEST_F(PoolTest, JitIsTurnedOffOnlyWhereAsked) {
  auto jit = [](Pool& pool) {
    return *pool.Read([](pqxx::nontransaction& tx) {
      return tx.exec1("SHOW jit")[0].as<std::string>();
    });
  };
  const std::string server_default = jit(schema_.pool());
  PoolOptions opts = schema_.pool_options();
  opts.jit = false;
  Pool no_jit(opts);
  EXPECT_EQ(jit(no_jit), "off");
  opts.jit = true;
  Pool as_server(opts);
  EXPECT_EQ(jit(as_server), server_default);
}

TEST_F(PoolTest, KilledConnectionIsReplacedTransparently) {
  Pool& pool = schema_.pool();
  auto pid = pool.Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
  });
  ASSERT_OK(pid);
  {
    pqxx::connection admin(testing::PgUri());
    pqxx::nontransaction tx(admin);
    tx.exec_params("SELECT pg_terminate_backend($1)", *pid);
  }
  // A new connection, set up as the pool sets up every one: libpqxx's own
  // reconnect of the broken one would have had none of the session's
  // settings (the schema's tables not found, no statement timeout).
  auto after = pool.Transact([](pqxx::work& tx) {
    pqxx::row r = tx.exec1(
        "SELECT pg_backend_pid(), current_setting('search_path'),"
        " current_setting('statement_timeout'), (SELECT n FROM counter WHERE id = 1)");
    return std::make_tuple(r[0].as<int>(), r[1].as<std::string>(), r[2].as<std::string>(),
                           r[3].as<int>());
  });
  ASSERT_OK(after);
  EXPECT_NE(std::get<0>(*after), *pid);
  EXPECT_THAT(std::get<1>(*after), HasSubstr(schema_.name()));
  EXPECT_EQ(std::get<2>(*after), "30s");
  EXPECT_EQ(std::get<3>(*after), 0);
}

TEST_F(PoolTest, TextArrayRoundTripsAwkwardValues) {
  const std::vector<std::string> values = {"plain", "with \"quote\"",
                                           "back\\slash", "comma,brace}", "",
                                           "张三"};
  auto back = schema_.pool().Transact([&](pqxx::work& tx) {
    std::vector<std::string> out;
    for (const auto& row :
         tx.exec_params("SELECT unnest($1::text[])", TextArray(values))) {
      out.push_back(row[0].as<std::string>());
    }
    return out;
  });
  ASSERT_OK(back);
  EXPECT_EQ(*back, values);
}

TEST_F(PoolTest, Int64ArrayRoundTripsExtremesAndEmpty) {
  const std::vector<std::vector<int64_t>> cases = {
      {},
      {0},
      {1, -1, int64_t{1} << 40, std::numeric_limits<int64_t>::max(),
       std::numeric_limits<int64_t>::min()}};
  for (const std::vector<int64_t>& values : cases) {
    auto back = schema_.pool().Transact([&](pqxx::work& tx) {
      std::vector<int64_t> out;
      for (const auto& row : tx.exec_params(
               "SELECT v FROM unnest($1::bigint[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
               Int64Array(values))) {
        out.push_back(row[0].as<int64_t>());
      }
      return out;
    });
    ASSERT_OK(back);
    EXPECT_EQ(*back, values);
  }
}

TEST_F(PoolTest, ReadByteaDecodesHexAndEscapeOutput) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  for (const char* format : {"hex", "escape"}) {
    SCOPED_TRACE(format);
    auto back = schema_.pool().Transact([&](pqxx::work& tx) {
      tx.exec(std::string("SET LOCAL bytea_output = ") + format);
      pqxx::row r = tx.exec_params1("SELECT $1::bytea, $2::bytea, ''::bytea, NULL::bytea",
                                    pqxx::binarystring(all_bytes),
                                    pqxx::binarystring(big));
      return std::vector<std::string>{ReadBytea(r[0]), ReadBytea(r[1]), ReadBytea(r[2]),
                                      ReadBytea(r[3])};
    });
    ASSERT_OK(back);
    EXPECT_EQ((*back)[0], all_bytes);
    EXPECT_EQ((*back)[1], big);
    EXPECT_EQ((*back)[2], "");
    EXPECT_EQ((*back)[3], "");
  }
}

TEST_F(PoolTest, PreparedStatementsAreReusedAcrossTransactions) {
  Pool& pool = schema_.pool();
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(pool.Transact([i](pqxx::work& tx) {
      ExecPrepared(tx, "insert_person", "INSERT INTO person VALUES ($1, $2)", i,
                   "P" + std::to_string(i));
      return absl::OkStatus();
    }));
  }
  auto n = pool.Transact([](pqxx::work& tx) {
    return ExecPrepared(tx, "count_people", "SELECT count(*) FROM person")[0][0]
        .as<int64_t>();
  });
  ASSERT_OK(n);
  EXPECT_EQ(*n, 3);
}

TEST_F(PoolTest, ExecBinaryReturnsStoredBytesAndNumbersInTheTransaction) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  auto back = schema_.pool().Transact([&](pqxx::work& tx) {
    tx.exec_params("CREATE TABLE blob (id bigint, n int, body bytea, label text)");
    tx.exec_params("INSERT INTO blob VALUES (-5000000000, -7, $1, '张三'), (2, 0, '', NULL)",
                   pqxx::binarystring(all_bytes));
    BinaryResult r = ExecBinary(
        tx, "SELECT id, n, body, label FROM blob WHERE id < $1 ORDER BY id", {"10"});
    EXPECT_EQ(r.rows(), 2);
    EXPECT_EQ(r.Int64(0, 0), -5000000000);
    EXPECT_EQ(r.Int32(0, 1), -7);
    EXPECT_EQ(r.Bytes(0, 2), all_bytes);
    EXPECT_EQ(r.Bytes(0, 3), "张三");
    EXPECT_EQ(r.Bytes(1, 2), "");
    EXPECT_TRUE(r.IsNull(1, 3));
    EXPECT_FALSE(r.IsNull(1, 2));
    EXPECT_THROW(r.Int32(0, 0), pqxx::conversion_error);  // a bigint is no integer
    BinaryResult f = ExecBinary(tx, "SELECT 1.5::float8, NULL::bigint", {});
    EXPECT_THROW(f.Int64(0, 0), pqxx::conversion_error);  // 8 bytes, but a float
    EXPECT_THROW(f.Int64(0, 1), pqxx::conversion_error);  // NULL
    return r.rows();
  });
  ASSERT_OK(back);
}

TEST_F(PoolTest, ExecBinaryFailuresMapLikeEveryOtherStatement) {
  Pool& pool = schema_.pool();
  ASSERT_OK(pool.Transact([](pqxx::work& tx) {
    tx.exec("INSERT INTO person VALUES (1, 'Ada')");
    return absl::OkStatus();
  }));
  EXPECT_THAT(pool.Transact([](pqxx::work& tx) {
    return ExecBinary(tx, "INSERT INTO person VALUES (2, 'Ada') RETURNING id", {}).rows();
  }), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(pool.Transact([](pqxx::work& tx) {
    return ExecBinary(tx, "SELEKT 1", {}).rows();
  }), StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(pool.Transact([](pqxx::work& tx) {
    return ExecBinary(tx, "SELECT $1::int", {"not a number"}).rows();
  }), StatusIs(absl::StatusCode::kInvalidArgument));
  // The failed statement rolled its transaction back; the pool goes on.
  auto n = pool.Transact([](pqxx::work& tx) {
    return ExecBinary(tx, "SELECT count(*) FROM person", {}).Int64(0, 0);
  });
  ASSERT_OK(n);
  EXPECT_EQ(*n, 1);
  // A connection the pool did not make is refused, not misread.
  pqxx::connection plain(testing::PgUri());
  pqxx::work tx(plain);
  EXPECT_THROW(ExecBinary(tx, "SELECT 1", {}), pqxx::usage_error);
}

TEST_F(PoolTest, ExecPipelineRunsEachStatementInOrderInOneTransaction) {
  static const std::string kInsert = "INSERT INTO person VALUES ($1::int, $2)";
  static const std::string kCount = "SELECT count(*), max(name) FROM person WHERE id <= $1::int";
  static const std::string kLock = "SELECT pg_advisory_xact_lock($1::bigint)";
  Pool& pool = schema_.pool();
  for (int round = 0; round < 2; ++round) {  // prepared the first time, reused after
    auto counted = pool.Transact([&](pqxx::work& tx) {
      std::vector<BinaryResult> r = ExecPipeline(
          tx, {{"lock", &kLock, {"42"}},
               {"insert", &kInsert, {absl::StrCat(10 + round), absl::StrCat("Grace", round)}},
               {"count", &kCount, {"100"}}});
      EXPECT_EQ(r.size(), 3u);
      EXPECT_EQ(r[1].rows(), 0);
      // The count ran after the insert: it sees it.
      EXPECT_EQ(r[2].Bytes(0, 1), absl::StrCat("Grace", round));
      return r[2].Int64(0, 0);
    });
    ASSERT_OK(counted);
    EXPECT_EQ(*counted, round + 1);
  }
  // A statement that fails skips the rest and rolls the transaction back.
  EXPECT_THAT(pool.Transact([&](pqxx::work& tx) {
    return ExecPipeline(tx, {{"insert", &kInsert, {"20", "Ada"}},
                             {"insert", &kInsert, {"20", "Ada"}},  // the same key
                             {"count", &kCount, {"100"}}})
        .size();
  }), StatusIs(absl::StatusCode::kAlreadyExists));
  static const std::string kBad = "SELEKT 1";
  EXPECT_THAT(pool.Transact([&](pqxx::work& tx) {
    return ExecPipeline(tx, {{"count", &kCount, {"100"}}, {"bad", &kBad, {}}}).size();
  }), StatusIs(absl::StatusCode::kInternal));
  auto n = pool.Transact([&](pqxx::work& tx) {
    // After a failed pipeline the connection takes ordinary statements again.
    tx.exec("SELECT 1");
    return ExecPipeline(tx, {{"count", &kCount, {"100"}}})[0].Int64(0, 0);
  });
  ASSERT_OK(n);
  EXPECT_EQ(*n, 2);  // 10 and 11; the failed pipeline's 20 is gone
  pqxx::connection plain(testing::PgUri());
  pqxx::work tx(plain);
  EXPECT_THROW(ExecPipeline(tx, {{"count", &kCount, {"1"}}}), pqxx::usage_error);
}

TEST_F(PoolTest, ExecPipelinePreparesANameOnceAndRefusesOtherSqlUnderIt) {
  static const std::string kSquare = "SELECT $1::int * $1::int";
  static const std::string kCube = "SELECT $1::int * $1::int * $1::int";
  PoolOptions options = schema_.pool_options();
  options.max_connections = 1;
  Pool fresh(options);  // a connection that has prepared nothing
  auto squares = fresh.Transact([&](pqxx::work& tx) {
    std::vector<BinaryResult> r =
        ExecPipeline(tx, {{"square", &kSquare, {"3"}}, {"square", &kSquare, {"4"}}});
    return r[0].Int32(0, 0) + r[1].Int32(0, 0);
  });
  ASSERT_OK(squares);
  EXPECT_EQ(*squares, 25);
  EXPECT_THAT(fresh.Transact([&](pqxx::work& tx) {
    return ExecPipeline(tx, {{"square", &kCube, {"2"}}}).size();
  }), StatusIs(absl::StatusCode::kInternal));
  // The refusal came before anything was sent: the connection goes on.
  auto again = fresh.Transact([&](pqxx::work& tx) {
    return ExecPipeline(tx, {{"square", &kSquare, {"5"}}})[0].Int32(0, 0);
  });
  ASSERT_OK(again);
  EXPECT_EQ(*again, 25);
}

TEST_F(PoolTest, TransactByHandCommitsWhereTheCallerSaysInPipelines) {
  static const std::string kInsert = "INSERT INTO person VALUES ($1::int, $2)";
  static const std::string kCount = "SELECT count(*) FROM person";
  PoolOptions options = schema_.pool_options();
  options.max_connections = 1;  // every run below on the same connection
  Pool pool(options);
  auto count = [&] {
    return *pool.Read([&](pqxx::nontransaction& tx) {
      return tx.exec1(kCount)[0].as<int64_t>();
    });
  };
  // BEGIN with the first statements, COMMIT with the last: one transaction.
  for (int round = 0; round < 2; ++round) {  // prepared the first time, reused after
    ASSERT_OK(pool.TransactByHand([&](pqxx::nontransaction& tx) {
      ExecPipeline(tx, {BeginStatement(),
                        {"insert", &kInsert, {absl::StrCat(1 + 2 * round), absl::StrCat("Ada", round)}}});
      EXPECT_EQ(tx.exec1("SELECT txid_current_if_assigned() IS NOT NULL")[0].as<bool>(), true);
      std::vector<BinaryResult> r = ExecPipeline(
          tx, {{"insert", &kInsert, {absl::StrCat(2 + 2 * round), absl::StrCat("Bo", round)}},
               CommitStatement()});
      EXPECT_EQ(r.size(), 2u);
      return absl::OkStatus();
    }));
  }
  EXPECT_EQ(count(), 4);
  // A failure in the committing pipeline takes the first pipeline's rows with it.
  EXPECT_THAT(pool.TransactByHand([&](pqxx::nontransaction& tx) {
    ExecPipeline(tx, {BeginStatement(), {"insert", &kInsert, {"10", "Cy"}}});
    ExecPipeline(tx, {{"insert", &kInsert, {"11", "Ada0"}}, CommitStatement()});  // name taken
    return absl::OkStatus();
  }), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(count(), 4);
  // An error status, or OK without a COMMIT, rolls back: the connection goes
  // back to the pool idle, and returning OK from inside is INTERNAL.
  EXPECT_THAT(pool.TransactByHand([&](pqxx::nontransaction& tx) {
    ExecPipeline(tx, {BeginStatement(), {"insert", &kInsert, {"12", "Di"}}});
    return absl::AbortedError("changed my mind");
  }), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(pool.TransactByHand([&](pqxx::nontransaction& tx) {
    ExecPipeline(tx, {BeginStatement(), {"insert", &kInsert, {"13", "Ed"}}});
    return 1;
  }).status(), StatusIs(absl::StatusCode::kInternal, HasSubstr("rolled back")));
  EXPECT_EQ(count(), 4);
  // The same connection, idle: a statement runs on its own again.
  ASSERT_OK(pool.Read([&](pqxx::nontransaction& tx) {
    EXPECT_TRUE(tx.exec1("SELECT txid_current_if_assigned() IS NULL")[0].as<bool>());
    return absl::OkStatus();
  }));
  EXPECT_EQ(pool.stats().open, 1);
  // Isolation as BEGIN names it.
  auto level = pool.TransactByHand([&](pqxx::nontransaction& tx) {
    static const std::string kLevel = "SELECT current_setting('transaction_isolation')";
    std::vector<BinaryResult> r = ExecPipeline(
        tx, {BeginStatement(Isolation::kRepeatableRead), {"level", &kLevel, {}},
             CommitStatement()});
    return std::string(r[1].Bytes(0, 0));
  });
  ASSERT_OK(level);
  EXPECT_EQ(*level, "repeatable read");
}

TEST_F(PoolTest, ExecPipelineFollowsACopyInTheSameTransaction) {
  // libpqxx leaves the end of a COPY unread; the pipeline still starts.
  static const std::string kCount = "SELECT count(*) FROM person";
  auto n = schema_.pool().Transact([&](pqxx::work& tx) {
    CopyWriter copy(tx, "person", {"id", "name"});
    copy.Row(50, std::string("Ivy"));
    copy.Row(51, std::string("Jo"));
    copy.Complete();
    return ExecPipeline(tx, {{"count", &kCount}})[0].Int64(0, 0);
  });
  ASSERT_OK(n);
  EXPECT_EQ(*n, 2);
}

TEST_F(PoolTest, AConnectionClosedDuringASuccessfulRunIsNotLentAgain) {
  // ExecPipeline closes a connection lost after its COMMIT answered and
  // returns the results: the pool must drop it, not let libpqxx reopen it
  // later without the pool's settings.
  PoolOptions options = schema_.pool_options();
  options.max_connections = 1;
  Pool pool(options);
  ASSERT_OK(pool.Read([](pqxx::nontransaction& tx) {
    tx.conn().disconnect();
    return absl::OkStatus();
  }));
  EXPECT_EQ(pool.stats().open, 0);
  auto path = pool.Read([](pqxx::nontransaction& tx) {
    return tx.exec1("SHOW search_path")[0].as<std::string>();
  });
  ASSERT_OK(path);
  EXPECT_THAT(*path, HasSubstr(schema_.name()));
}

TEST_F(PoolTest, ExecPipelineSendsBinaryParametersAsTheyAre) {
  static const std::string kEcho = "SELECT $1::bytea, length($1::bytea), $2::text";
  const std::string bytes("\x00\xff'\"\\\0end", 9);  // NULs, quotes, a backslash
  auto echoed = schema_.pool().Transact([&](pqxx::work& tx) {
    std::vector<BinaryResult> r =
        ExecPipeline(tx, {{"echo", &kEcho, {bytes, "text"}, {true, false}}});
    EXPECT_EQ(r[0].Int32(0, 1), 9);
    EXPECT_EQ(r[0].Bytes(0, 2), "text");
    return std::string(r[0].Bytes(0, 0));
  });
  ASSERT_OK(echoed);
  EXPECT_EQ(*echoed, bytes);
}

TEST_F(PoolTest, ConnectionLostBeforeACommittingPipelineRunsIsRetried) {
  static const std::string kInsert = "INSERT INTO person VALUES ($1::int, $2)";
  Pool& pool = schema_.pool();
  int attempts = 0;
  auto committed = pool.TransactByHand([&](pqxx::nontransaction& tx) {
    ++attempts;
    const int pid = tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
    ExecPipeline(tx, {BeginStatement(), {"insert", &kInsert, {"30", "Fay"}}});
    if (attempts == 1) {
      pqxx::connection admin(testing::PgUri());
      pqxx::nontransaction a(admin);
      a.exec_params("SELECT pg_terminate_backend($1, 5000)", pid);  // and gone
    }
    ExecPipeline(tx, {{"insert", &kInsert, {"31", "Gus"}}, CommitStatement()});
    return absl::OkStatus();
  });
  // The server had closed the connection before the COMMIT was sent:
  // nothing was committed, so it is UNAVAILABLE and run again, once.
  EXPECT_OK(committed);
  EXPECT_EQ(attempts, 2);
  auto rows = pool.Read([&](pqxx::nontransaction& tx) {
    return tx.exec1("SELECT count(*) FROM person WHERE id IN (30, 31)")[0].as<int64_t>();
  });
  ASSERT_OK(rows);
  EXPECT_EQ(*rows, 2);
}

// A connection that is cut (no word from the server) after the COMMIT was
// sent and before its answer: it may have committed, so UNKNOWN, not
// retried. Here it did: the server still ran the COMMIT.
TEST_F(PoolTest, ConnectionCutBeforeTheCommitAnswersIsUnknown) {
  static const std::string kInsert = "INSERT INTO person VALUES ($1::int, $2)";
  static const std::string kSleep = "SELECT pg_sleep(1)";  // the cut comes meanwhile
  Pool& pool = schema_.pool();
  int attempts = 0;
  auto committed = pool.TransactByHand([&](pqxx::nontransaction& tx) {
    ++attempts;
    const int socket = PQsocket(static_cast<Connection&>(tx.conn()).handle());
    std::thread cut([socket] {
      absl::SleepFor(absl::Milliseconds(300));
      shutdown(socket, SHUT_RDWR);
    });
    struct Join {
      std::thread& t;
      ~Join() { t.join(); }
    } join{cut};
    ExecPipeline(tx, {BeginStatement(), {"insert", &kInsert, {"40", "Hal"}},
                      {"sleep", &kSleep, {}}, CommitStatement()});
    return absl::OkStatus();
  });
  EXPECT_THAT(committed, StatusIs(absl::StatusCode::kUnknown));
  EXPECT_EQ(attempts, 1);
  EXPECT_OK(pool.Ping());  // the cut connection was replaced
  int64_t rows = 0;
  for (int i = 0; i < 50 && rows == 0; ++i) {  // the server commits after its sleep
    absl::SleepFor(absl::Milliseconds(100));
    rows = *pool.Read([&](pqxx::nontransaction& tx) {
      return tx.exec1("SELECT count(*) FROM person WHERE id = 40")[0].as<int64_t>();
    });
  }
  EXPECT_EQ(rows, 1);
}

TEST_F(PoolTest, ExecBinaryOnAKilledConnectionIsUnavailableAndRetried) {
  Pool& pool = schema_.pool();
  auto pid = pool.Transact([](pqxx::work& tx) {
    return ExecBinary(tx, "SELECT pg_backend_pid()", {}).Int32(0, 0);
  });
  ASSERT_OK(pid);
  int attempts = 0;
  auto again = pool.Transact([&](pqxx::work& tx) {
    if (++attempts == 1) {
      pqxx::connection admin(testing::PgUri());
      pqxx::nontransaction a(admin);
      a.exec_params("SELECT pg_terminate_backend($1)", *pid);
    }
    return ExecBinary(tx, "SELECT pg_backend_pid()", {}).Int32(0, 0);
  });
  ASSERT_OK(again);
  EXPECT_EQ(attempts, 2);
  EXPECT_NE(*again, *pid);
}

TEST(PoolUnavailable, UnreachableServerIsUnavailable) {
  Pool pool(PoolOptions{.uri = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"});
  EXPECT_THAT(pool.Ping(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(pool.stats().open, 0);
}

TEST_F(PoolTest, ExhaustedPoolTimesOutAsUnavailable) {
  PoolOptions opts = schema_.pool_options();
  opts.max_connections = 1;
  opts.acquire_timeout = absl::Milliseconds(200);
  Pool pool(opts);
  std::atomic<bool> holding{false};
  std::atomic<bool> release{false};
  std::thread holder([&] {
    ASSERT_OK(pool.Transact([&](pqxx::work& tx) {
      holding = true;
      while (!release) absl::SleepFor(absl::Milliseconds(10));
      return absl::OkStatus();
    }));
  });
  while (!holding) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(pool.stats().in_use, 1);
  EXPECT_THAT(pool.Ping(), StatusIs(absl::StatusCode::kUnavailable,
                                    HasSubstr("no connection free")));
  release = true;
  holder.join();
  EXPECT_OK(pool.Ping());
}

}  // namespace
}  // namespace meridian::pg
