#include "libs/config/config.h"

#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"

namespace meridian::config {
namespace {

using ::meridian::testing::IsOk;
using ::meridian::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(ConfigReader, FlagsOverrideEnvironment) {
  setenv("MTEST_GRPC_PORT", "6000", 1);
  char arg0[] = "svc";
  char arg1[] = "--grpc_port=7000";
  char* argv[] = {arg0, arg1};
  Reader r = Reader::FromProcess(2, argv, "MTEST_");
  EXPECT_EQ(r.Port("GRPC_PORT", 1), 7000);
  EXPECT_THAT(r.status(), IsOk());
  unsetenv("MTEST_GRPC_PORT");
}

TEST(ConfigReader, ReadsEnvironmentAndDefaults) {
  setenv("MTEST_BATCH", "250", 1);
  setenv("MTEST_POLL", "250ms", 1);
  setenv("MTEST_ON", "true", 1);
  Reader r("MTEST_");
  EXPECT_EQ(r.Int("BATCH", 1, 1, 1000), 250);
  EXPECT_EQ(r.Duration("POLL", absl::Seconds(1)), absl::Milliseconds(250));
  EXPECT_TRUE(r.Bool("ON", false));
  EXPECT_EQ(r.String("ABSENT", "dflt"), "dflt");
  EXPECT_THAT(r.status(), IsOk());
  unsetenv("MTEST_BATCH");
  unsetenv("MTEST_POLL");
  unsetenv("MTEST_ON");
}

TEST(ConfigReader, EveryBadSettingIsNamed) {
  Reader r("MTEST_");
  r.Set("GRPC_PORT", "70000").Set("POLL", "soon").Set("BATCH", "ten");
  r.RequiredString("PG_URI");
  r.Port("GRPC_PORT", 1);
  r.Duration("POLL", absl::Seconds(1));
  r.Int("BATCH", 1, 1, 100);
  r.RequiredFile("CA");
  EXPECT_THAT(r.status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("MTEST_PG_URI: required"),
                             HasSubstr("MTEST_GRPC_PORT: must be between"),
                             HasSubstr("MTEST_POLL: not a duration"),
                             HasSubstr("MTEST_BATCH: not an integer"),
                             HasSubstr("MTEST_CA: required"))));
}

TEST(ConfigReader, MissingFileIsNamed) {
  Reader r("MTEST_");
  r.Set("TLS_CERT", "/nonexistent/cert.pem");
  r.RequiredFile("TLS_CERT");
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("MTEST_TLS_CERT: cannot read")));
}

TEST(ConfigReader, MalformedArgumentIsAnError) {
  char arg0[] = "svc";
  char arg1[] = "positional";
  char* argv[] = {arg0, arg1};
  Reader r = Reader::FromProcess(2, argv, "MTEST_");
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("expected --name=value")));
}

TEST(ConfigReaderDeathTest, ExitIfInvalidStopsTheProcess) {
  Reader r("MTEST_");
  r.RequiredString("PG_URI");
  EXPECT_EXIT(r.ExitIfInvalid(), ::testing::ExitedWithCode(2),
              HasSubstr("MTEST_PG_URI: required but not set"));
}

TEST(ConfigReader, HelpListsEverySettingReadWithItsDefault) {
  char arg0[] = "svc";
  char arg1[] = "--help";
  char* argv[] = {arg0, arg1};
  Reader r = Reader::FromProcess(2, argv, "MTEST_");
  EXPECT_TRUE(r.help_requested());
  r.RequiredString("PG_URI");
  r.Port("GRPC_PORT", 50051);
  r.Duration("POLL", absl::Milliseconds(250));
  r.Bool("MIGRATE_ONLY", false);
  r.String("TLS_CA", "");
  r.RequiredFile("TLS_CA");  // read again as required: listed as required
  r.Port("GRPC_PORT", 50051);  // read twice, listed once
  const std::string usage = r.Usage();
  EXPECT_THAT(usage, HasSubstr("--pg_uri=TEXT"));
  EXPECT_THAT(usage, HasSubstr("MTEST_PG_URI (required)"));
  EXPECT_THAT(usage, HasSubstr("MTEST_GRPC_PORT (default: 50051)"));
  EXPECT_THAT(usage, HasSubstr("MTEST_POLL (default: 250ms)"));
  EXPECT_THAT(usage, HasSubstr("--migrate_only=BOOL"));
  EXPECT_THAT(usage, HasSubstr("--tls_ca=FILE"));
  EXPECT_THAT(usage, HasSubstr("MTEST_TLS_CA (required)"));
  EXPECT_EQ(usage.find("MTEST_GRPC_PORT"), usage.rfind("MTEST_GRPC_PORT")) << usage;
}

TEST(ConfigReaderDeathTest, HelpExitsZeroEvenWithMissingSettings) {
  char arg0[] = "svc";
  char arg1[] = "--help";
  char* argv[] = {arg0, arg1};
  Reader r = Reader::FromProcess(2, argv, "MTEST_");
  r.RequiredString("PG_URI");
  EXPECT_EXIT(r.ExitIfInvalid(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace meridian::config
