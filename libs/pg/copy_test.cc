// Runs against the real PostgreSQL (MERIDIAN_PG_URI).
#include "libs/pg/copy.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "libs/pg/pool.h"
#include "libs/pg/sql.h"
#include "libs/pg/testing.h"
#include "libs/status/status_matchers.h"

namespace meridian::pg {
namespace {

TEST(ByteaHexTest, EncodesEveryByte) {
  EXPECT_EQ(ByteaHex(std::string("\x00\x7f\xff", 3)), "\\x007fff");
  EXPECT_EQ(ByteaHex(""), "\\x");
}

TEST(CopyWriterTest, RoundTripsAwkwardTextBinaryAndNull) {
  testing::ScratchSchema schema{"copy"};
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  const std::string awkward = "tab\there\nnew line \\ backslash \\N 黄婷";
  ASSERT_OK(schema.pool().Transact([&](pqxx::work& tx) {
    tx.exec("CREATE TABLE t (id int PRIMARY KEY, s text, b bytea, n int)");
    CopyWriter copy(tx, "t", {"id", "s", "b", "n"});
    copy.Row(1, awkward, Bytea{all_bytes}, std::optional<int>(7));
    copy.Row(2, std::string(), Bytea{""}, std::optional<int>());
    copy.Complete();
    return absl::OkStatus();
  }));
  ASSERT_OK(schema.pool().Transact([&](pqxx::work& tx) {
    pqxx::result r = tx.exec("SELECT id, s, b, n FROM t ORDER BY id");
    EXPECT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0][1].as<std::string>(), awkward);
    EXPECT_EQ(pg::ReadBytea(r[0][2]), all_bytes);
    EXPECT_EQ(r[0][3].as<int>(), 7);
    EXPECT_EQ(r[1][1].as<std::string>(), "");
    EXPECT_TRUE(r[1][3].is_null());
    return absl::OkStatus();
  }));
}

TEST(TimestampLiteralTest, RoundTripsMicrosecondsAndInfinity) {
  testing::ScratchSchema schema{"copy"};
  const absl::Time t = absl::FromUnixMicros(1'700'000'000'123'456);
  absl::StatusOr<int64_t> micros = schema.pool().Transact([&](pqxx::work& tx) {
    return tx.exec_params1("SELECT " + MicrosOf("$1::timestamptz"), TimestampLiteral(t))[0]
        .as<int64_t>();
  });
  ASSERT_OK(micros);
  EXPECT_EQ(*micros, 1'700'000'000'123'456);
  EXPECT_EQ(TimestampLiteral(absl::InfinitePast()), "-infinity");
  EXPECT_EQ(TimestampLiteral(absl::InfiniteFuture()), "infinity");
  EXPECT_EQ(TimestampLiteral(absl::FromUnixSeconds(0)), "1970-01-01 00:00:00.000000+00");
}

TEST(CopyWriterTest, ARejectedRowFailsTheTransaction) {
  testing::ScratchSchema schema{"copy"};
  ASSERT_OK(schema.pool().Transact([](pqxx::work& tx) {
    tx.exec("CREATE TABLE t (id int PRIMARY KEY)");
    return absl::OkStatus();
  }));
  absl::Status s = schema.pool().Transact([](pqxx::work& tx) {
    CopyWriter copy(tx, "t", {"id"});
    copy.Row(1);
    copy.Row(1);
    copy.Complete();
    return absl::OkStatus();
  });
  EXPECT_FALSE(s.ok());
  absl::StatusOr<int64_t> n = schema.pool().Transact(
      [](pqxx::work& tx) { return tx.exec1("SELECT count(*) FROM t")[0].as<int64_t>(); });
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0);
}

}  // namespace
}  // namespace meridian::pg
