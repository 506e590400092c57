// The outbox's promise, end to end over the real PostgreSQL and Kafka:
// 10,000 events written by a service, relayed by a separate relay process,
// consumed by an idempotent consumer — while the broker is killed and
// restarted and the relay process is killed once. Every committed event
// arrives; each is applied once after deduplication; nothing rolled back is
// ever published.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "libs/kafka/kafka.h"
#include "libs/kafka/testing.h"
#include "libs/outbox/outbox.h"
#include "libs/outbox/relay.h"
#include "libs/pg/testing.h"
#include "libs/status/status_matchers.h"

namespace meridian {
namespace {

constexpr int kTransactions = 200;
constexpr int kEventsPerTransaction = 50;  // 10,000 committed events
constexpr int kEvents = kTransactions * kEventsPerTransaction;

// The relay as its own process, so that it can be killed with SIGKILL.
pid_t StartRelay(const std::string& schema) {
  pid_t pid = fork();
  if (pid == 0) {
    setenv("MERIDIAN_SCHEMA", schema.c_str(), 1);
    setenv("MERIDIAN_PG_URI", pg::testing::PgUri().c_str(), 1);
    setenv("MERIDIAN_RELAY_BATCH", "500", 1);
    execl(MERIDIAN_RELAY_BINARY, MERIDIAN_RELAY_BINARY, nullptr);
    _exit(127);
  }
  return pid;
}

void Kill(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TEST(OutboxKafka, TenThousandEventsSurviveBrokerRestartAndRelayKill) {
  pg::testing::ScratchSchema schema("e2e");
  ASSERT_OK(pg::Migrate(schema.pool(), schema.name(),
                        {outbox::MigrationSet()}));
  const std::string topic = kafka::testing::UniqueTopic("outbox");
  ASSERT_OK(kafka::EnsureTopics(kafka::testing::Brokers(), {{topic, 3, 1}}));

  // The consumer: dedupes through the inbox, remembers what it saw.
  std::mutex mu;
  std::set<std::string> seen;
  std::atomic<int> applied{0};
  std::atomic<int> duplicates{0};
  auto dlt = kafka::MakeKafkaPublisher({.brokers = kafka::testing::Brokers()});
  ASSERT_OK(dlt);
  auto consumer = kafka::MakeKafkaConsumer(
      {.brokers = kafka::testing::Brokers(),
       .group_id = absl::StrCat("e2e-", topic),
       .topics = {topic}},
      dlt->get());
  ASSERT_OK(consumer);
  std::thread consumer_thread([&] {
    absl::Status s = (*consumer)->Run([&](const kafka::ConsumedMessage& m) {
      auto env = outbox::ParseEnvelope(m);
      if (!env.ok()) return env.status();
      absl::StatusOr<bool> fresh =
          schema.pool().Transact([&](pqxx::work& tx) {
            return outbox::MarkProcessed(tx, "e2e", env->event_id());
          });
      if (!fresh.ok()) return fresh.status();
      if (*fresh) {
        ++applied;
        std::lock_guard<std::mutex> lock(mu);
        seen.insert(env->event_id());
      } else {
        ++duplicates;
      }
      return absl::OkStatus();
    });
    EXPECT_OK(s);
  });

  pid_t relay = StartRelay(schema.name());

  // The writer: 200 committed transactions of 50 events, and every tenth
  // transaction one more that rolls back.
  std::set<std::string> committed;
  std::set<std::string> rolled_back;
  std::thread writer([&] {
    for (int t = 0; t < kTransactions; ++t) {
      for (bool commit : {true, false}) {
        if (!commit && t % 10 != 0) continue;
        std::vector<std::string> ids;
        absl::Status s = schema.pool().Transact(
            [&](pqxx::work& tx) -> absl::Status {
              ids.clear();
              for (int i = 0; i < kEventsPerTransaction; ++i) {
                google::protobuf::Int64Value payload;
                payload.set_value(t * kEventsPerTransaction + i);
                auto env = outbox::Append(
                    tx,
                    {.topic = topic,
                     .type = "test.counted",
                     .key = absl::StrCat("patient-", i % 17),
                     .source_organisation = "org-e2e",
                     .producer = "outbox-kafka-test"},
                    payload);
                if (!env.ok()) return env.status();
                ids.push_back(env->event_id());
              }
              return commit ? absl::OkStatus()
                            : absl::AbortedError("deliberate rollback");
            },
            pg::TxnOptions{.max_attempts = 1});
        ASSERT_EQ(s.ok(), commit) << s;
        (commit ? committed : rolled_back).insert(ids.begin(), ids.end());
      }
      absl::SleepFor(absl::Milliseconds(25));
    }
  });

  auto wait_applied = [&](int n, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (applied < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    return applied >= n;
  };

  // Fault 1: the broker dies and comes back while events keep committing.
  ASSERT_TRUE(wait_applied(1500, absl::Seconds(120)));
  ASSERT_EQ(kafka::testing::Ctl("stop kafka --kill"), 0);
  absl::SleepFor(absl::Seconds(2));
  ASSERT_EQ(kafka::testing::Ctl("start kafka"), 0);

  // Fault 2: the relay process is killed mid-stream and replaced.
  ASSERT_TRUE(wait_applied(applied + 1000, absl::Seconds(180)));
  Kill(relay);
  relay = StartRelay(schema.name());

  writer.join();
  bool all = wait_applied(kEvents, absl::Seconds(240));
  (*consumer)->Stop();
  consumer_thread.join();
  Kill(relay);

  ASSERT_EQ(committed.size(), static_cast<size_t>(kEvents));
  ASSERT_TRUE(all) << "applied only " << applied << " of " << kEvents;
  EXPECT_EQ(applied.load(), kEvents);  // each event applied exactly once
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, committed);
  for (const std::string& id : rolled_back) {
    EXPECT_EQ(seen.count(id), 0u) << "rolled-back event " << id << " published";
  }
  outbox::Relay probe(&schema.pool(), dlt->get());
  EXPECT_EQ(probe.GetLag()->pending, 0);
  std::cout << "{\"events\":" << kEvents << ",\"duplicates_dropped\":"
            << duplicates << "}" << std::endl;
}

}  // namespace
}  // namespace meridian
