#include "libs/service/kafka_settings.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"

namespace meridian::service {
namespace {

using ::meridian::testing::StatusIs;

TEST(KafkaSettings, TheBrokersCaDefaultsToTheServicesCa) {
  config::Reader cfg("KSTEST_");
  cfg.Set("KAFKA_BROKERS", "k1:9093,k2:9093").Set("TLS_CA", "/etc/ca.pem");
  KafkaSettings s = ReadKafkaSettings(cfg);
  EXPECT_EQ(s.brokers, "k1:9093,k2:9093");
  EXPECT_TRUE(s.create_topics);
  EXPECT_EQ(s.tls.ca_file, "/etc/ca.pem");
  EXPECT_EQ(s.tls.cert_file, "");  // plaintext
  cfg.Set("KAFKA_CA", "/etc/strimzi-ca.crt").Set("KAFKA_CLIENT_CERT", "/k/user.crt");
  s = ReadKafkaSettings(cfg);
  EXPECT_EQ(s.tls.ca_file, "/etc/strimzi-ca.crt");
  EXPECT_EQ(s.tls.cert_file, "/k/user.crt");
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
