#include "libs/service/kafka_settings.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/service/log.h"
#include "libs/status/status_matchers.h"
#include "nlohmann/json.hpp"

namespace meridian::service {
namespace {

using ::meridian::testing::StatusIs;

std::string TempFile(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << "pem";
  return path;
}

TEST(KafkaSettings, TheBrokersCaDefaultsToTheServicesCa) {
  config::Reader cfg("KSTEST_");
  cfg.Set("KAFKA_BROKERS", "k1:9093,k2:9093").Set("TLS_CA", "/etc/ca.pem");
  KafkaSettings s = ReadKafkaSettings(cfg);
  EXPECT_EQ(s.brokers, "k1:9093,k2:9093");
  EXPECT_TRUE(s.create_topics);
  EXPECT_EQ(s.tls.ca_file, "/etc/ca.pem");
  EXPECT_EQ(s.tls.cert_file, "");  // plaintext
  const std::string ca = TempFile("strimzi-ca.crt"), cert = TempFile("user.crt"),
                    key = TempFile("user.key");
  cfg.Set("KAFKA_CA", ca).Set("KAFKA_CLIENT_CERT", cert).Set("KAFKA_CLIENT_KEY", key);
  s = ReadKafkaSettings(cfg);
  EXPECT_OK(cfg.status());
  EXPECT_EQ(s.tls.ca_file, ca);
  EXPECT_EQ(s.tls.cert_file, cert);
  EXPECT_EQ(s.tls.key_file, key);
}

TEST(KafkaSettings, AClientCertificateNeedsItsKeyAndCaReadableAtStart) {
  config::Reader cfg("KSTEST_");
  cfg.Set("KAFKA_BROKERS", "k1:9093")
      .Set("KAFKA_CLIENT_CERT", TempFile("c.crt"))
      .Set("KAFKA_CLIENT_KEY", "/nonexistent/user.key")
      .Set("TLS_CA", "/nonexistent/ca.pem");
  ReadKafkaSettings(cfg);
  EXPECT_THAT(cfg.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     ::testing::AllOf(::testing::HasSubstr("KSTEST_KAFKA_CLIENT_KEY"),
                                                      ::testing::HasSubstr("KSTEST_TLS_CA"))));
}

TEST(ErrorLine, IsOneJsonObjectWhateverTheMessage) {
  const std::string line =
      ErrorLine("consent", absl::UnavailableError("postgres: \"quoted\"\nsecond line \xff"));
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["service"], "consent");
  EXPECT_THAT(j["error"].get<std::string>(), ::testing::HasSubstr("\"quoted\"\nsecond line"));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(InfoLine, IsOneJsonObjectWhateverTheMessage) {
  const std::string line = InfoLine("patient-index", "loaded\n\"7\" \xff");
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["service"], "patient-index");
  EXPECT_THAT(j["message"].get<std::string>(), ::testing::HasSubstr("loaded\n\"7\""));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(WarningLine, IsOneJsonObjectAtWarnLevel) {
  const nlohmann::json j = nlohmann::json::parse(WarningLine("patient-index", "full\n\"x\""));
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["service"], "patient-index");
  EXPECT_EQ(j["message"], "full\n\"x\"");
}

// Numbers stay numbers; text is escaped as JSON (quotes, newlines, bytes
// that are not UTF-8), never C-escaped, so every line parses.
TEST(FieldsLine, KeepsNumbersAndEscapesTextAsJson) {
  const std::string line =
      FieldsLine("warn", "deid-stream",
                 {{"topic", "patient.events"}, {"offset", int64_t{41}},
                  {"error", "bad \"envelope\"\n\xff 张"}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.rfind(R"({"level":"warn","service":"deid-stream","topic":)", 0), 0u) << line;
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["offset"], 41);
  EXPECT_TRUE(j["offset"].is_number_integer());
  EXPECT_EQ(j["topic"], "patient.events");
  EXPECT_THAT(j["error"].get<std::string>(), ::testing::HasSubstr("bad \"envelope\"\n"));
  EXPECT_THAT(j["error"].get<std::string>(), ::testing::HasSubstr("张"));
}

TEST(KafkaSettings, MissingBrokersAreNamed) {
  config::Reader cfg("KSTEST_");
  ReadKafkaSettings(cfg);
  EXPECT_THAT(cfg.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     ::testing::HasSubstr("KSTEST_KAFKA_BROKERS")));
}

TEST(KafkaSettings, TopicsManagedElsewhereAreNotCreated) {
  config::Reader cfg("KSTEST_");
  // No broker listens on port 1: creating would fail, not creating may not.
  cfg.Set("KAFKA_BROKERS", "127.0.0.1:1").Set("KAFKA_CREATE_TOPICS", "false");
  KafkaSettings s = ReadKafkaSettings(cfg);
  EXPECT_FALSE(s.create_topics);
  EXPECT_TRUE(EnsureTopics(s, {{"meridian.test.v1", 1, 1}}, absl::Seconds(1)).ok());
  s.create_topics = true;
  EXPECT_FALSE(EnsureTopics(s, {{"meridian.test.v1", 1, 1}}, absl::Seconds(1)).ok());
}

}  // namespace
}  // namespace meridian::service
