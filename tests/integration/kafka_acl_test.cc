// The de-identified topic's ACLs on the running broker (tools/meridian up):
// only deid-stream writes it; only the analytics service (and the privacy
// auditor) read it. Another service, with its own valid certificate on the
// TLS listener, and any client of the plaintext listener are refused both.
#include <librdkafka/rdkafkacpp.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/ids/uuid.h"
#include "libs/kafka/kafka.h"
#include "libs/kafka/rdkafka_util.h"
#include "libs/server/testing.h"
#include "meridian/events/v1/envelope.pb.h"

namespace meridian {
namespace {

using server::testing::Env;

constexpr char kDeidTopic[] = "meridian.deid.v1";

// Kafka clients made after this act as `who` over the TLS listener ("" for
// the plaintext listener, as User:ANONYMOUS). Returns the brokers to use.
std::string ActAs(const std::string& who) {
  if (who.empty()) {
    kafka::SetClientTls({});
    return Env("MERIDIAN_KAFKA_BROKERS");
  }
  const std::string certs = Env("MERIDIAN_CERTS_DIR");
  kafka::SetClientTls({Env("MERIDIAN_TLS_CA"), certs + "/" + who + ".pem", certs + "/" + who + ".key"});
  return Env("MERIDIAN_KAFKA_TLS_BROKERS");
}

// Publishes one harmless de-identified event (a type analytics counts
// nothing for).
absl::Status Publish(const std::string& who) {
  const std::string brokers = ActAs(who);
  auto publisher = kafka::MakeKafkaPublisher(
      {.brokers = brokers, .client_id = "acl-test", .message_timeout = absl::Seconds(10)});
  if (!publisher.ok()) return publisher.status();
  events::v1::EventEnvelope env;
  env.set_event_id(ids::NewUuid());
  env.set_type("test.acl");
  env.set_regional_patient_id(ids::NewUuid());
  kafka::Message m{kDeidTopic, env.regional_patient_id(), env.SerializeAsString(), {}};
  return (*publisher)->PublishBatch({&m, 1}, absl::Seconds(15));
}

// What the first consume of the topic by `who` (a new group, from the
// start) answers: NO_ERROR with a message, or the error.
RdKafka::ErrorCode FirstConsume(const std::string& who) {
  const std::string brokers = ActAs(who);
  kafka::ConfBuilder conf;
  conf.Set("bootstrap.servers", brokers)
      .Set("group.id", absl::StrCat("acl-test-", ids::NewUuid()))
      .Set("auto.offset.reset", "earliest")
      .Set("log_level", "0");
  EXPECT_TRUE(conf.status().ok()) << conf.status();
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), err));
  EXPECT_NE(consumer, nullptr) << err;
  if (consumer == nullptr) return RdKafka::ERR_UNKNOWN;
  EXPECT_EQ(consumer->subscribe({kDeidTopic}), RdKafka::ERR_NO_ERROR);
  RdKafka::ErrorCode result = RdKafka::ERR__TIMED_OUT;
  for (absl::Time deadline = absl::Now() + absl::Seconds(30); absl::Now() < deadline;) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(200));
    if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) continue;
    result = m->err();
    break;
  }
  consumer->close();
  return result;
}

TEST(KafkaAclTest, OnlyDeidStreamWritesTheDeidentifiedTopic) {
  EXPECT_TRUE(Publish("svc-deid-stream").ok());
  absl::Status as_records = Publish("svc-records");
  EXPECT_FALSE(as_records.ok());
  EXPECT_NE(as_records.ToString().find("uthoriz"), std::string::npos) << as_records;
  EXPECT_FALSE(Publish("").ok());
}

TEST(KafkaAclTest, OnlyAnalyticsAndTheAuditorReadIt) {
  ASSERT_TRUE(Publish("svc-deid-stream").ok());  // something to read
  EXPECT_EQ(FirstConsume("svc-analytics"), RdKafka::ERR_NO_ERROR);
  EXPECT_EQ(FirstConsume("privacy-auditor"), RdKafka::ERR_NO_ERROR);
  EXPECT_EQ(FirstConsume("svc-records"), RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED);
  EXPECT_EQ(FirstConsume("svc-deid-stream"), RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED);
  EXPECT_EQ(FirstConsume("health-commission"), RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED);
  EXPECT_EQ(FirstConsume(""), RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED);
}

}  // namespace
}  // namespace meridian
