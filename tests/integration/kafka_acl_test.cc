// The de-identified topic's ACLs on the running broker (tools/meridian up):
// only deid-stream writes it; only the analytics service (and the privacy
// auditor) read it. Another service, with its own valid certificate on the
// TLS listener, and any client of the plaintext listener are refused both.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/ids/uuid.h"
#include "libs/kafka/kafka.h"
#include "libs/kafka/testing.h"
#include "libs/kafka/rdkafka_util.h"
#include "libs/server/testing.h"
#include "meridian/events/v1/envelope.pb.h"

namespace meridian {
namespace {


constexpr char kDeidTopic[] = "meridian.deid.v1";

using kafka::testing::ActAs;

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

// What the broker answers `who` asking to let svc-records read the topic.
rd_kafka_resp_err_t GrantYourselfRead(const std::string& who) {
  const std::string brokers = ActAs(who);
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> settings = kafka::ClientTlsSettings();
  settings.insert(settings.begin(), {{"bootstrap.servers", brokers}, {"log_level", "0"}});
  for (const auto& [name, value] : settings) {
    EXPECT_EQ(rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)),
              RD_KAFKA_CONF_OK) << err;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  EXPECT_NE(rk, nullptr) << err;
  if (rk == nullptr) return RD_KAFKA_RESP_ERR_UNKNOWN;
  rd_kafka_AclBinding_t* binding = rd_kafka_AclBinding_new(
      RD_KAFKA_RESOURCE_TOPIC, kDeidTopic, RD_KAFKA_RESOURCE_PATTERN_LITERAL, "User:svc-records",
      "*", RD_KAFKA_ACL_OPERATION_READ, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, err, sizeof(err));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_CreateAcls(rk, &binding, 1, nullptr, queue);
  rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR__TIMED_OUT;
  if (rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 30000)) {
    result = rd_kafka_event_error(ev);
    if (result == RD_KAFKA_RESP_ERR_NO_ERROR) {
      size_t n = 0;
      const rd_kafka_acl_result_t** results =
          rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &n);
      if (n == 1) {
        const rd_kafka_error_t* e = rd_kafka_acl_result_error(results[0]);
        result = e == nullptr ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_error_code(e);
      }
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AclBinding_destroy(binding);
  rd_kafka_queue_destroy(queue);
  rd_kafka_destroy(rk);
  return result;
}

TEST(KafkaAclTest, NoOneButTheOperatorChangesTheAcls) {
  EXPECT_EQ(GrantYourselfRead(""), RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
  EXPECT_EQ(GrantYourselfRead("svc-records"), RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
  EXPECT_EQ(GrantYourselfRead("svc-analytics"), RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
  EXPECT_EQ(FirstConsume("svc-records"), RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED);
}

}  // namespace
}  // namespace meridian
