// Runs against the real Kafka broker (MERIDIAN_KAFKA_BROKERS).
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/kafka/kafka.h"
#include "libs/kafka/testing.h"
#include "libs/status/status_matchers.h"

namespace meridian::kafka {
namespace {

using ::meridian::testing::IsOk;
using ::meridian::testing::StatusIs;
using ::testing::Contains;
using ::testing::Pair;

// Runs a consumer on its own thread until `done` says so or `timeout` passes.
class ConsumerThread {
 public:
  ConsumerThread(ConsumerOptions options, Publisher* dlt, Handler handler)
      : consumer_(*MakeKafkaConsumer(options, dlt)) {
    thread_ = std::thread([this, handler] { status_ = consumer_->Run(handler); });
  }
  ~ConsumerThread() { StopAndJoin(); }
  void StopAndJoin() {
    if (!thread_.joinable()) return;
    consumer_->Stop();
    thread_.join();
  }
  absl::Status status() const { return status_; }

 private:
  std::unique_ptr<Consumer> consumer_;
  std::thread thread_;
  absl::Status status_;
};

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return cond();
}

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    topic_ = testing::UniqueTopic("kafka");
    ASSERT_OK(EnsureTopics(testing::Brokers(),
                           {{topic_, 3, 1}, {topic_ + ".dlt", 1, 1}}));
    auto p = MakeKafkaPublisher({.brokers = testing::Brokers()});
    ASSERT_OK(p);
    publisher_ = std::move(*p);
  }

  void TearDown() override {
    EXPECT_OK(DeleteTopics(testing::Brokers(), {topic_, topic_ + ".dlt"}));
  }

  ConsumerOptions Options(std::string group) {
    return ConsumerOptions{.brokers = testing::Brokers(),
                           .group_id = std::move(group),
                           .topics = {topic_},
                           .max_attempts = 2,
                           .initial_backoff = absl::Milliseconds(10)};
  }

  std::vector<Message> Batch(int n, absl::string_view prefix) {
    std::vector<Message> out;
    for (int i = 0; i < n; ++i) {
      out.push_back({topic_, absl::StrCat("patient-", i % 7),
                     absl::StrCat(prefix, i), {{"type", "test"}}});
    }
    return out;
  }

  std::string topic_;
  std::unique_ptr<Publisher> publisher_;
};

TEST_F(KafkaTest, PublishesAndConsumesWithHeadersAndPerKeyOrder) {
  ASSERT_OK(publisher_->PublishBatch(Batch(200, "v"), absl::Seconds(30)));
  std::mutex mu;
  std::map<std::string, std::vector<int>> by_key;
  std::atomic<int> seen{0};
  bool headers_ok = true;
  ConsumerThread c(Options("g-order"), publisher_.get(),
                   [&](const ConsumedMessage& m) {
                     std::lock_guard<std::mutex> lock(mu);
                     by_key[m.key].push_back(std::stoi(m.value.substr(1)));
                     if (m.headers.empty() || m.headers[0].first != "type") {
                       headers_ok = false;
                     }
                     ++seen;
                     return absl::OkStatus();
                   });
  ASSERT_TRUE(WaitFor([&] { return seen >= 200; }, absl::Seconds(60)));
  c.StopAndJoin();
  EXPECT_OK(c.status());
  EXPECT_TRUE(headers_ok);
  EXPECT_EQ(by_key.size(), 7u);
  for (const auto& [key, values] : by_key) {
    EXPECT_TRUE(std::is_sorted(values.begin(), values.end())) << key;
  }
}

TEST_F(KafkaTest, CommitsOnlyAfterHandlerSucceeds) {
  ASSERT_OK(publisher_->PublishBatch(Batch(10, "v"), absl::Seconds(30)));
  std::atomic<int> handled{0};
  {
    // Handles 5, then fails transiently forever: the rest stay uncommitted.
    ConsumerThread c(Options("g-commit"), publisher_.get(),
                     [&](const ConsumedMessage& m) {
                       if (handled >= 5) {
                         return absl::UnavailableError("database down");
                       }
                       ++handled;
                       return absl::OkStatus();
                     });
    ASSERT_TRUE(WaitFor([&] { return handled >= 5; }, absl::Seconds(60)));
    absl::SleepFor(absl::Milliseconds(300));
  }
  std::atomic<int> second{0};
  ConsumerThread c2(Options("g-commit"), publisher_.get(),
                    [&](const ConsumedMessage&) {
                      ++second;
                      return absl::OkStatus();
                    });
  ASSERT_TRUE(WaitFor([&] { return second >= 5; }, absl::Seconds(60)));
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(second.load(), 5);  // exactly the ones never handled
}

TEST_F(KafkaTest, RebalanceLosesNothing) {
  // Two members of one group share the topic; one joins mid-stream, the first
  // leaves mid-stream. Every message is handled (at least once), and what
  // the first member handled before leaving is not all handed over again.
  ASSERT_OK(publisher_->PublishBatch(Batch(300, "a"), absl::Seconds(30)));
  std::mutex mu;
  std::multiset<std::string> handled;
  auto handler = [&](const ConsumedMessage& m) {
    absl::SleepFor(absl::Milliseconds(2));
    std::lock_guard<std::mutex> lock(mu);
    handled.insert(m.value);
    return absl::OkStatus();
  };
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return handled.size();
  };
  auto first = std::make_unique<ConsumerThread>(Options("g-rebalance"),
                                                publisher_.get(), handler);
  ASSERT_TRUE(WaitFor([&] { return count() >= 60; }, absl::Seconds(60)));
  ConsumerThread second(Options("g-rebalance"), publisher_.get(), handler);
  ASSERT_OK(publisher_->PublishBatch(Batch(300, "b"), absl::Seconds(30)));
  ASSERT_TRUE(WaitFor([&] { return count() >= 300; }, absl::Seconds(60)));
  first.reset();  // leaves the group: its partitions move to `second`
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        std::set<std::string> distinct(handled.begin(), handled.end());
        return distinct.size() >= 600;
      },
      absl::Seconds(90)));
  second.StopAndJoin();
  std::lock_guard<std::mutex> lock(mu);
  std::set<std::string> distinct(handled.begin(), handled.end());
  EXPECT_EQ(distinct.size(), 600u);
  // Redelivery is allowed but bounded: offsets were committed on revoke.
  EXPECT_LT(handled.size(), 600u + 300u);
}

TEST_F(KafkaTest, PermanentFailureGoesToDeadLetterTopic) {
  ASSERT_OK(publisher_->PublishBatch(
      {{topic_, "k", "poison", {}}, {topic_, "k", "fine", {}}},
      absl::Seconds(30)));
  std::atomic<int> fine{0};
  std::atomic<int> poison_attempts{0};
  ConsumerThread c(Options("g-dlt"), publisher_.get(),
                   [&](const ConsumedMessage& m) {
                     if (m.value == "poison") {
                       ++poison_attempts;
                       return absl::InvalidArgumentError("payload: unparseable");
                     }
                     ++fine;
                     return absl::OkStatus();
                   });
  ASSERT_TRUE(WaitFor([&] { return fine >= 1; }, absl::Seconds(60)));
  c.StopAndJoin();
  EXPECT_EQ(poison_attempts.load(), 2);  // max_attempts, then dead-lettered

  std::vector<ConsumedMessage> dead;
  std::mutex mu;
  ConsumerOptions dlt_options = Options("g-dlt-reader");
  dlt_options.topics = {topic_ + ".dlt"};
  ConsumerThread reader(dlt_options, publisher_.get(),
                        [&](const ConsumedMessage& m) {
                          std::lock_guard<std::mutex> lock(mu);
                          dead.push_back(m);
                          return absl::OkStatus();
                        });
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return !dead.empty();
      },
      absl::Seconds(60)));
  reader.StopAndJoin();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].value, "poison");
  EXPECT_THAT(dead[0].headers,
              Contains(Pair("meridian-dlt-error",
                            "INVALID_ARGUMENT: payload: unparseable")));
  EXPECT_THAT(dead[0].headers, Contains(Pair("meridian-dlt-attempts", "2")));
}

TEST_F(KafkaTest, BatchesFallBackToOneByOneAndKeepTheDeadLetterRules) {
  std::vector<Message> messages = Batch(40, "m");
  messages[17].value = "poison";
  ASSERT_OK(publisher_->PublishBatch(messages, absl::Seconds(30)));
  std::mutex mu;
  std::set<std::string> handled;
  std::atomic<int> batches{0}, batch_failures{0};
  auto consumer = MakeKafkaConsumer(Options("g-batch"), publisher_.get());
  ASSERT_OK(consumer);
  std::thread t([&] {
    (void)(*consumer)->RunBatched(
        [&](const std::vector<ConsumedMessage>& batch) {
          ++batches;
          for (const auto& m : batch) {
            if (m.value == "poison") {
              ++batch_failures;
              return absl::InvalidArgumentError("payload: unparseable");
            }
          }
          std::lock_guard<std::mutex> lock(mu);
          for (const auto& m : batch) handled.insert(m.value);
          return absl::OkStatus();
        },
        [&](const ConsumedMessage& m) {
          if (m.value == "poison") return absl::InvalidArgumentError("payload: unparseable");
          std::lock_guard<std::mutex> lock(mu);
          handled.insert(m.value);
          return absl::OkStatus();
        },
        16);
  });
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return handled.size() >= 39;
      },
      absl::Seconds(60)));
  (*consumer)->Stop();
  t.join();
  EXPECT_EQ(handled.size(), 39u);
  EXPECT_FALSE(handled.contains("poison"));
  EXPECT_GE(batch_failures.load(), 1);
  EXPECT_LT(batches.load(), 40);  // several messages per batch
}

TEST_F(KafkaTest, TransientFailureIsRetriedNotDeadLettered) {
  ASSERT_OK(publisher_->PublishBatch({{topic_, "k", "x", {}}},
                                     absl::Seconds(30)));
  std::atomic<int> attempts{0};
  ConsumerThread c(Options("g-transient"), publisher_.get(),
                   [&](const ConsumedMessage&) {
                     return ++attempts < 6
                                ? absl::UnavailableError("postgres down")
                                : absl::OkStatus();
                   });
  ASSERT_TRUE(WaitFor([&] { return attempts >= 6; }, absl::Seconds(60)));
}

TEST_F(KafkaTest, EnsureTopicsIsIdempotent) {
  EXPECT_OK(EnsureTopics(testing::Brokers(), {{topic_, 3, 1}}));
}

TEST_F(KafkaTest, DeleteTopicsCountsMissingOnesAsDeleted) {
  ASSERT_OK(publisher_->PublishBatch(Batch(3, "gone"), absl::Seconds(30)));
  EXPECT_OK(DeleteTopics(testing::Brokers(), {topic_}));
  EXPECT_OK(DeleteTopics(testing::Brokers(), {topic_, "test.never.created"}));
  EXPECT_THAT(DeleteTopics("127.0.0.1:1", {topic_}, absl::Milliseconds(500)),
              ::testing::Not(IsOk()));
}

TEST(KafkaUnavailable, PingAndPublishFailCleanlyWithoutBroker) {
  EXPECT_THAT(PingBroker("127.0.0.1:1", absl::Milliseconds(500)),
              StatusIs(absl::StatusCode::kUnavailable));
  auto p = MakeKafkaPublisher(
      {.brokers = "127.0.0.1:1", .message_timeout = absl::Seconds(1)});
  ASSERT_OK(p);
  absl::Status s = (*p)->PublishBatch({{"t", "k", "v", {}}}, absl::Seconds(3));
  EXPECT_FALSE(s.ok());
}

TEST(KafkaOptions, BadSettingIsInvalidArgument) {
  EXPECT_THAT(MakeKafkaPublisher({.brokers = "x", .compression = "bogus"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeKafkaConsumer({.brokers = "x", .group_id = ""}, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace meridian::kafka
