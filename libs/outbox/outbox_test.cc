// Outbox and relay against the real PostgreSQL, with the in-memory publisher
// standing in for Kafka (the real broker is exercised in tests/integration).
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "libs/kafka/in_memory.h"
#include "libs/outbox/outbox.h"
#include "libs/outbox/relay.h"
#include "libs/pg/testing.h"
#include "libs/status/status_matchers.h"

namespace meridian::outbox {
namespace {

using ::meridian::testing::StatusIs;

// A transaction on its own connection, in the test's schema.
struct OpenTransaction {
  explicit OpenTransaction(const std::string& schema)
      : conn(pg::testing::PgUri()), tx(conn) {  // a pg::Connection, as the pool's
    tx.exec("SET LOCAL search_path = " + tx.quote_name(schema));
  }
  pg::Connection conn;
  pqxx::work tx;
};

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(pg::Migrate(schema_.pool(), schema_.name(), {MigrationSet()}));
  }

  // Appends `n` events in one transaction; returns their IDs.
  std::vector<std::string> AppendN(int n, bool commit = true) {
    std::vector<std::string> ids;
    absl::Status s = schema_.pool().Transact([&](pqxx::work& tx) -> absl::Status {
      ids.clear();
      for (int i = 0; i < n; ++i) {
        google::protobuf::StringValue payload;
        payload.set_value(absl::StrCat("payload-", i));
        auto env = Append(tx,
                          {.topic = "meridian.test.v1",
                           .type = "test.happened",
                           .key = absl::StrCat("k", i % 3),
                           .source_organisation = "org-1",
                           .producer = "outbox-test"},
                          payload);
        if (!env.ok()) return env.status();
        ids.push_back(env->event_id());
      }
      return commit ? absl::OkStatus() : absl::AbortedError("roll back");
    }, pg::TxnOptions{.max_attempts = 1});
    EXPECT_EQ(s.ok(), commit);
    return ids;
  }

  // Two events in outbox_p0, a new partition started (`relay` starts one
  // at every Maintain) and both published: outbox_p0 may go.
  void PublishTheFirstPartition(Relay& relay) {
    AppendN(2);
    absl::StatusOr<MaintainReport> m = relay.Maintain();
    ASSERT_OK(m);
    ASSERT_TRUE(m->rotated);
    ASSERT_EQ(*relay.RunOnce(), 2);
  }

  // outbox_p0 published, its detach timed out by a reader of `outbox`:
  // pending.
  void LeaveTheFirstPartitionPending(Relay& relay) {
    ASSERT_NO_FATAL_FAILURE(PublishTheFirstPartition(relay));
    OpenTransaction reader(schema_.name());
    reader.tx.exec("SELECT count(*) FROM outbox");
    absl::StatusOr<MaintainReport> m = relay.Maintain();
    ASSERT_OK(m);
    ASSERT_EQ(m->dropped, 0);
  }

  // A published message's envelope, as a consumer would parse it.
  static absl::StatusOr<events::v1::EventEnvelope> Parse(const kafka::Message& m) {
    return ParseEnvelope(kafka::ConsumedMessage{m.topic, 0, 0, m.key, m.value, m.headers});
  }

  std::set<std::string> PublishedIds() {
    std::set<std::string> out;
    for (const kafka::Message& m : publisher_.published()) {
      auto env = Parse(m);
      EXPECT_OK(env);
      if (env.ok()) out.insert(env->event_id());
    }
    return out;
  }

  pg::testing::ScratchSchema schema_{"outbox"};
  kafka::InMemoryPublisher publisher_;
};

// After a poll that published less than a batch, Run() waits busy_wait
// before the next, so that events gather instead of a poll per event. (The
// first assertion can only pass wrongly, never fail wrongly, on a slow
// machine: a slow relay publishes later still.)
TEST_F(OutboxTest, RunWaitsAfterAPartialBatch) {
  Relay relay(&schema_.pool(), &publisher_,
              {.batch_size = 1000, .busy_wait = absl::Seconds(2)});
  std::thread runner([&] { relay.Run(); });
  AppendN(1);
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (publisher_.published().size() < 1 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(publisher_.published().size(), 1u);
  AppendN(1);  // while the relay waits after publishing the first
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(publisher_.published().size(), 1u) << "polled again without waiting";
  while (publisher_.published().size() < 2 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(publisher_.published().size(), 2u);
  relay.Stop();
  runner.join();
}

TEST_F(OutboxTest, RelayPublishesCommittedEventsInOrderAndMarksThem) {
  std::vector<std::string> ids = AppendN(25);
  Relay relay(&schema_.pool(), &publisher_, {.batch_size = 10, .batches_per_commit = 1});
  EXPECT_EQ(*relay.RunOnce(), 10);
  EXPECT_EQ(*relay.RunOnce(), 10);
  EXPECT_EQ(*relay.RunOnce(), 5);
  EXPECT_EQ(*relay.RunOnce(), 0);
  // Several batches per commit: sent in order, committed together.
  std::vector<std::string> more = AppendN(25);
  Relay pipelined(&schema_.pool(), &publisher_, {.batch_size = 10, .batches_per_commit = 2});
  EXPECT_EQ(*pipelined.RunOnce(), 20);
  EXPECT_EQ(*pipelined.RunOnce(), 5);
  EXPECT_EQ(*pipelined.RunOnce(), 0);
  ids.insert(ids.end(), more.begin(), more.end());
  std::vector<kafka::Message> sent = publisher_.published();
  ASSERT_EQ(sent.size(), 50u);
  for (size_t i = 0; i < sent.size(); ++i) {
    auto env = Parse(sent[i]);
    ASSERT_OK(env);
    EXPECT_EQ(env->event_id(), ids[i]);  // commit order
    EXPECT_EQ(sent[i].key, env->key());
    EXPECT_EQ(sent[i].topic, "meridian.test.v1");
    EXPECT_EQ(env->type(), "test.happened");
    EXPECT_EQ(env->source_organisation(), "org-1");
    google::protobuf::StringValue payload;
    ASSERT_TRUE(env->payload().UnpackTo(&payload));
    EXPECT_EQ(payload.value(), absl::StrCat("payload-", i % 25));
    EXPECT_THAT(sent[i].headers,
                ::testing::Contains(::testing::Pair("meridian-event-id", ids[i])));
  }
  EXPECT_EQ(relay.GetLag()->pending, 0);
}

TEST_F(OutboxTest, BulkAppendsShareRowsAndArePublishedOneMessagePerEventInOrder) {
  std::vector<std::string> ids = AppendN(3);  // single rows
  absl::Status s = schema_.pool().Transact([&](pqxx::work& tx) -> absl::Status {
    std::vector<PendingEvent> bulk;
    // 2,001: two full rows and one event left over on its own.
    for (int i = 0; i < 2001; ++i) {
      google::protobuf::StringValue payload;
      payload.set_value(absl::StrCat("bulk-", i));
      auto env = NewEnvelope({.topic = i % 2 ? "meridian.a.v1" : "meridian.b.v1",
                              .type = "bulk.happened",
                              .key = absl::StrCat("key-", i % 7)},
                             payload);
      if (!env.ok()) return env.status();
      bulk.push_back({i % 2 ? "meridian.a.v1" : "meridian.b.v1", *env});
    }
    for (const auto& e : bulk) ids.push_back(e.envelope.event_id());
    return AppendAll(tx, bulk);
  });
  ASSERT_OK(s);
  std::vector<std::string> more = AppendN(2);
  ids.insert(ids.end(), more.begin(), more.end());
  absl::StatusOr<int64_t> rows = schema_.pool().Transact(
      [](pqxx::work& tx) { return tx.exec1("SELECT count(*) FROM outbox")[0].as<int64_t>(); });
  ASSERT_OK(rows);
  EXPECT_EQ(*rows, 3 + 3 + 2);  // 2,001 events in three rows
  Relay relay(&schema_.pool(), &publisher_, {.batch_size = 1000});
  EXPECT_EQ(relay.GetLag()->pending, 2006);
  int published = 0;
  for (int i = 0; i < 10; ++i) published += *relay.RunOnce();
  EXPECT_EQ(published, 2006);
  std::vector<kafka::Message> sent = publisher_.published();
  ASSERT_EQ(sent.size(), ids.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    auto env = Parse(sent[i]);
    ASSERT_OK(env);
    ASSERT_EQ(env->event_id(), ids[i]) << i;
    EXPECT_EQ(sent[i].key, env->key());
    EXPECT_THAT(sent[i].headers,
                ::testing::Contains(::testing::Pair("meridian-event-id", ids[i])));
    if (i >= 3 && i < 2004) {
      EXPECT_EQ(sent[i].topic, (i - 3) % 2 ? "meridian.a.v1" : "meridian.b.v1");
      EXPECT_THAT(sent[i].headers,
                  ::testing::Contains(::testing::Pair("meridian-event-type", "bulk.happened")));
    }
  }
  EXPECT_EQ(relay.GetLag()->pending, 0);
}

TEST_F(OutboxTest, AFewEventsAppendAsOneStatementOfOneRowEachInOrder) {
  std::vector<PendingEvent> few;
  for (int i = 0; i < 5; ++i) {
    google::protobuf::StringValue payload;
    payload.set_value(absl::StrCat("few-", i));
    const std::string topic = i % 2 ? "meridian.a.v1" : "meridian.b.v1";
    auto env = NewEnvelope({.topic = topic, .type = "few.happened",
                            .key = absl::StrCat("key-", i)},
                           payload);
    ASSERT_OK(env);
    few.push_back({topic, *env});
  }
  ASSERT_OK(schema_.pool().Transact(
      [&](pqxx::work& tx) { return AppendAll(tx, few); }));
  absl::StatusOr<int64_t> rows = schema_.pool().Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FROM outbox WHERE events = 1")[0].as<int64_t>();
  });
  ASSERT_OK(rows);
  EXPECT_EQ(*rows, 5);
  Relay relay(&schema_.pool(), &publisher_, {.batch_size = 100});
  EXPECT_EQ(*relay.RunOnce(), 5);
  std::vector<kafka::Message> sent = publisher_.published();
  ASSERT_EQ(sent.size(), 5u);
  for (size_t i = 0; i < sent.size(); ++i) {
    auto env = Parse(sent[i]);
    ASSERT_OK(env);
    EXPECT_EQ(env->event_id(), few[i].envelope.event_id());
    EXPECT_EQ(sent[i].topic, few[i].topic);
    EXPECT_EQ(sent[i].key, absl::StrCat("key-", i));
    google::protobuf::StringValue payload;
    ASSERT_TRUE(env->payload().UnpackTo(&payload));
    EXPECT_EQ(payload.value(), absl::StrCat("few-", i));
  }
}

TEST_F(OutboxTest, RolledBackEventsAreNeverPublished) {
  std::vector<std::string> rolled_back = AppendN(5, /*commit=*/false);
  std::vector<std::string> kept = AppendN(3);
  Relay relay(&schema_.pool(), &publisher_);
  EXPECT_EQ(*relay.RunOnce(), 3);
  std::set<std::string> published = PublishedIds();
  EXPECT_EQ(published, std::set<std::string>(kept.begin(), kept.end()));
}

// Appends one event keyed `key` inside `tx`.
absl::StatusOr<events::v1::EventEnvelope> AppendOne(pqxx::work& tx, const std::string& key) {
  google::protobuf::StringValue payload;
  payload.set_value(key);
  return Append(tx, {.topic = "meridian.test.v1", .type = "test.happened", .key = key,
                     .source_organisation = "org-1", .producer = "outbox-test"},
                payload);
}

TEST_F(OutboxTest, EventsAfterAnIdStillBeingWrittenWaitForItThenLeaveInIdOrder) {
  // A writer that took a lower id but commits later: the watermark must not
  // pass its id while it may still commit, so the later events wait.
  OpenTransaction slow(schema_.name());
  absl::StatusOr<events::v1::EventEnvelope> early = AppendOne(slow.tx, "slow");
  ASSERT_OK(early);
  std::vector<std::string> later = AppendN(2);
  Relay relay(&schema_.pool(), &publisher_, {.batch_size = 10});
  EXPECT_EQ(*relay.RunOnce(), 0);
  EXPECT_EQ(relay.GetLag()->pending, 2);
  slow.tx.commit();
  EXPECT_EQ(*relay.RunOnce(), 3);
  EXPECT_EQ(*relay.RunOnce(), 0);
  std::vector<kafka::Message> sent = publisher_.published();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].key, "slow");  // id order
  EXPECT_EQ(PublishedIds(), std::set<std::string>({early->event_id(), later[0], later[1]}));
  EXPECT_EQ(relay.GetLag()->pending, 0);
}

TEST_F(OutboxTest, AWriterThatRollsBackReleasesTheEventsAfterIt) {
  OpenTransaction doomed(schema_.name());
  ASSERT_OK(AppendOne(doomed.tx, "doomed"));
  std::vector<std::string> later = AppendN(2);
  Relay relay(&schema_.pool(), &publisher_);
  EXPECT_EQ(*relay.RunOnce(), 0);
  doomed.tx.abort();
  EXPECT_EQ(*relay.RunOnce(), 2);
  EXPECT_EQ(PublishedIds(), std::set<std::string>(later.begin(), later.end()));
}

TEST_F(OutboxTest, TransactionsThatDoNotWriteTheOutboxHoldNothingBack) {
  OpenTransaction reader(schema_.name());
  reader.tx.exec("SELECT count(*) FROM outbox");
  reader.tx.exec("CREATE TEMP TABLE scratch (x int)");  // has a transaction ID
  reader.tx.exec("INSERT INTO scratch VALUES (1)");
  AppendN(4);
  Relay relay(&schema_.pool(), &publisher_);
  EXPECT_EQ(*relay.RunOnce(), 4);
}

TEST_F(OutboxTest, MaintainStartsPartitionsAndDropsThePublishedOnes) {
  auto partitions = [&] {
    return *schema_.pool().Transact([](pqxx::work& tx) {
      return tx.exec1("SELECT count(*) FROM pg_inherits WHERE inhparent = 'outbox'::regclass")
          [0].as<int64_t>();
    });
  };
  auto rows = [&] {
    return *schema_.pool().Transact(
        [](pqxx::work& tx) { return tx.exec1("SELECT count(*) FROM outbox")[0].as<int64_t>(); });
  };
  // Any non-empty partition is "big": every Maintain() starts a new one.
  Relay relay(&schema_.pool(), &publisher_, {.partition_bytes = 1});
  std::vector<std::string> first = AppendN(5);
  ASSERT_EQ(partitions(), 1);
  absl::StatusOr<MaintainReport> m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_TRUE(m->rotated);
  EXPECT_EQ(m->dropped, 0);  // the first partition is not published yet
  EXPECT_EQ(partitions(), 2);
  std::vector<std::string> second = AppendN(3);  // into the new partition
  EXPECT_EQ(*relay.RunOnce(), 8);
  EXPECT_EQ(rows(), 8);  // published rows stay until their partition goes
  m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 1);
  EXPECT_TRUE(m->rotated);  // the second one holds rows
  EXPECT_EQ(rows(), 3);
  EXPECT_EQ(*relay.RunOnce(), 0);  // nothing published twice
  m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 1);
  EXPECT_EQ(rows(), 0);
  EXPECT_EQ(partitions(), 1);
  std::vector<std::string> third = AppendN(2);
  EXPECT_EQ(*relay.RunOnce(), 2);
  std::vector<std::string> all = first;
  all.insert(all.end(), second.begin(), second.end());
  all.insert(all.end(), third.begin(), third.end());
  EXPECT_EQ(PublishedIds(), std::set<std::string>(all.begin(), all.end()));
  EXPECT_EQ(publisher_.published().size(), all.size());
  EXPECT_EQ(relay.GetLag()->pending, 0);
}

TEST_F(OutboxTest, WritersMoveToANewPartitionOnlyOnceNoOpenWriterCanMissIt) {
  auto count = [&](const std::string& sql) {
    return *schema_.pool().Transact([&](pqxx::work& tx) { return tx.exec1(sql)[0].as<int64_t>(); });
  };
  Relay relay(&schema_.pool(), &publisher_,
              {.partition_bytes = 1, .rotate_wait = absl::Milliseconds(100)});
  AppendN(1);
  OpenTransaction writer(schema_.name());
  ASSERT_OK(AppendOne(writer.tx, "open"));
  // The next partition is attached, but a writer that began before it is
  // still open: the sequence stays where it is.
  absl::StatusOr<MaintainReport> m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_FALSE(m->rotated);
  EXPECT_EQ(count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'outbox'::regclass"), 2);
  writer.tx.commit();
  m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_TRUE(m->rotated);  // into the partition already attached
  EXPECT_EQ(count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'outbox'::regclass"), 2);
  AppendN(1);
  EXPECT_EQ(count("SELECT count(*) FROM outbox_p1"), 1);
  EXPECT_EQ(*relay.RunOnce(), 3);
}

TEST_F(OutboxTest, LastIssuedIdIsTheLastIdHandedOutEvenWhereTheSequenceLogsAhead) {
  auto last = [&] {
    return *schema_.pool().Transact([](pqxx::work& tx) { return LastIssuedId(tx); });
  };
  auto query = [&](const std::string& sql) {
    return *schema_.pool().Transact([&](pqxx::work& tx) { return tx.exec1(sql)[0].as<int64_t>(); });
  };
  EXPECT_EQ(last(), 0);  // a new sequence has handed out nothing
  AppendN(3);
  EXPECT_EQ(last(), query("SELECT max(id) FROM outbox"));
  // An id taken by a writer that rolls back was handed out all the same.
  AppendN(1, /*commit=*/false);
  EXPECT_EQ(last(), query("SELECT max(id) FROM outbox") + 1);
  // setval leaves nothing logged ahead: the next nextval writes a value 32
  // ahead to the WAL (and, while it does, into the sequence's tuple).
  const int64_t before = last();
  query("SELECT setval('outbox_id_seq', " + std::to_string(before) + ", true)");
  const int64_t taken = query("SELECT nextval('outbox_id_seq')");
  EXPECT_EQ(taken, before + 1);
  EXPECT_EQ(last(), taken);
  // The relay's move to a new partition: the last id reads as the one below
  // the partition's first, and the next writer takes that first id.
  Relay relay(&schema_.pool(), &publisher_, {.partition_bytes = 1});
  absl::StatusOr<MaintainReport> m = relay.Maintain();
  ASSERT_OK(m);
  ASSERT_TRUE(m->rotated);
  const int64_t partition_start = int64_t{1} << 40;
  EXPECT_EQ(last(), partition_start - 1);
  AppendN(1);
  EXPECT_EQ(query("SELECT max(id) FROM outbox"), partition_start);
  EXPECT_EQ(last(), partition_start);
}

TEST_F(OutboxTest, LastIssuedIdNeverRunsAheadOfTheSequenceUnderConcurrentWriters) {
  // Writers take ids as fast as they can (the sequence logs 32 ahead at every
  // 32nd); each read of the last id is followed by a nextval, which must be
  // above it. A read of the sequence's tuple outside its buffer lock saw the
  // logged-ahead value about once in a million reads under this load, enough
  // to lose up to 32 ids' events in a long run; bounded here by count, this
  // catches a read that is wrong more often than that.
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&] {
      pqxx::connection conn(pg::testing::PgUri());
      pqxx::nontransaction tx(conn);
      tx.exec("SET search_path = " + tx.quote_name(schema_.name()));
      while (!stop) tx.exec("SELECT nextval('outbox_id_seq')");
    });
  }
  OpenTransaction reader(schema_.name());
  int64_t behind = 0;
  for (int i = 0; i < 3000; ++i) {
    const int64_t seen = LastIssuedId(reader.tx);
    const int64_t next = reader.tx.exec1("SELECT nextval('outbox_id_seq')")[0].as<int64_t>();
    if (next <= seen) ++behind;
  }
  stop = true;
  for (auto& t : writers) t.join();
  EXPECT_EQ(behind, 0);
}

TEST_F(OutboxTest, AQuietPartitionIsKeptUntilItIsOldThenReplaced) {
  Relay relay(&schema_.pool(), &publisher_, {.partition_age = absl::Milliseconds(100)});
  absl::StatusOr<MaintainReport> m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_FALSE(m->rotated);  // empty
  AppendN(1);
  m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_FALSE(m->rotated);  // young
  absl::SleepFor(absl::Milliseconds(150));
  m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_TRUE(m->rotated);
  EXPECT_EQ(*relay.RunOnce(), 1);
  m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 1);
}

// A table named outbox_p*: name, attached, detach pending.
using Table = std::tuple<std::string, bool, bool>;

// The outbox's partitions, attached or not.
std::vector<Table> PartitionTables(pg::Pool& pool) {
  return *pool.Transact([](pqxx::work& tx) {
    std::vector<Table> out;
    for (const auto& row : tx.exec(
             "SELECT c.relname, i.inhrelid IS NOT NULL, coalesce(i.inhdetachpending, false)"
             " FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid"
             " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
             " AND c.relname LIKE 'outbox\\_p%' ORDER BY 1")) {
      out.emplace_back(row[0].as<std::string>(), row[1].as<bool>(), row[2].as<bool>());
    }
    return out;
  });
}

TEST_F(OutboxTest, ADropThatCannotGetItsLockIsRetriedLater) {
  Relay relay(&schema_.pool(), &publisher_, {.partition_bytes = 1});
  ASSERT_NO_FATAL_FAILURE(PublishTheFirstPartition(relay));
  {
    OpenTransaction reader(schema_.name());
    reader.tx.exec("SELECT count(*) FROM outbox");  // holds a lock on it
    absl::StatusOr<MaintainReport> m = relay.Maintain();
    ASSERT_OK(m);
    EXPECT_EQ(m->dropped, 0);
    // The detach waited for the reader, gave up and is pending.
    EXPECT_THAT(PartitionTables(schema_.pool()),
                ::testing::ElementsAre(Table{"outbox_p0", true, true},
                                       Table{"outbox_p1", true, false}));
    // Writers and the relay go on meanwhile: the relay lock went back, and
    // no connection of the pool kept the detach's lock timeout.
    pqxx::connection other(pg::testing::PgUri());
    pqxx::nontransaction check(other);
    EXPECT_TRUE(check.exec1(absl::StrCat("SELECT pg_try_advisory_lock(hashtext('meridian.outbox.",
                                         schema_.name(), "'))"))[0]
                    .as<bool>());
    check.exec("SELECT pg_advisory_unlock_all()");
    for (int i = 0; i < 4; ++i) {  // every connection the pool may hold
      EXPECT_EQ(*schema_.pool().Transact([](pqxx::work& tx) {
        return tx.exec1("SHOW lock_timeout")[0].as<std::string>();
      }), "0");
    }
    AppendN(1);
    EXPECT_EQ(*relay.RunOnce(), 1);
  }
  absl::StatusOr<MaintainReport> m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 1);
  EXPECT_THAT(PartitionTables(schema_.pool()),
              ::testing::ElementsAre(Table{"outbox_p1", true, false},
                                     Table{"outbox_p2", true, false}));
}

// FINALIZE waits for every older snapshot in the database: a transaction
// that never ends, on any table, holds it off. Past finalize_patience the
// pending partition is dropped as it is.
TEST_F(OutboxTest, APendingDetachHeldOffByAnOldSnapshotIsDroppedAfterAWhile) {
  Relay relay(&schema_.pool(), &publisher_, {.partition_bytes = 1});
  ASSERT_NO_FATAL_FAILURE(LeaveTheFirstPartitionPending(relay));
  pqxx::connection conn(pg::testing::PgUri());
  pqxx::transaction<pqxx::repeatable_read> old_snapshot(conn);
  old_snapshot.exec("SELECT count(*) FROM pg_class");  // nothing of the outbox's
  absl::StatusOr<MaintainReport> m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 0);  // FINALIZE cannot finish meanwhile
  EXPECT_THAT(PartitionTables(schema_.pool()),
              ::testing::Contains(Table{"outbox_p0", true, true}));
  Relay impatient(&schema_.pool(), &publisher_,
                  {.partition_bytes = 1, .finalize_patience = absl::ZeroDuration()});
  m = impatient.Maintain();
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 1);
  const std::vector<Table> left = PartitionTables(schema_.pool());
  ASSERT_FALSE(left.empty());
  for (const Table& t : left) EXPECT_NE(std::get<0>(t), "outbox_p0");
}

// When the direct drop fails too (a reader of `outbox` holds it off),
// FINALIZE has another finalize_patience before the next direct try: a
// reader on `outbox` every minute must not make writers wait every second.
TEST_F(OutboxTest, AFailedDirectDropGivesFinalizeAnotherSpell) {
  const absl::Duration patience = absl::Seconds(1);
  Relay relay(&schema_.pool(), &publisher_,
              {.partition_bytes = 1, .finalize_patience = patience});
  ASSERT_NO_FATAL_FAILURE(LeaveTheFirstPartitionPending(relay));
  pqxx::connection conn(pg::testing::PgUri());
  pqxx::transaction<pqxx::repeatable_read> old_snapshot(conn);
  old_snapshot.exec("SELECT count(*) FROM pg_class");  // FINALIZE cannot finish
  absl::StatusOr<MaintainReport> m = relay.Maintain();  // the spell starts
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 0);
  absl::SleepFor(patience + absl::Milliseconds(100));
  {
    OpenTransaction reader(schema_.name());
    reader.tx.exec("SELECT count(*) FROM outbox");  // the direct drop waits, in vain
    m = relay.Maintain();
    ASSERT_OK(m);
    EXPECT_EQ(m->dropped, 0);
  }
  // Nothing holds a direct drop off now, but FINALIZE's spell began again.
  m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 0);
  EXPECT_THAT(PartitionTables(schema_.pool()),
              ::testing::Contains(Table{"outbox_p0", true, true}));
  absl::SleepFor(patience + absl::Milliseconds(100));
  m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 1);
}

// Dropping a partition takes ACCESS EXCLUSIVE on `outbox`, and writers
// queued behind it: detached CONCURRENTLY first, it waits for the
// transactions using `outbox` without making any writer wait.
TEST_F(OutboxTest, WritersNeverWaitForAPublishedPartitionToGo) {
  // Long enough that the detach is still waiting when the writer comes.
  Relay relay(&schema_.pool(), &publisher_,
              {.partition_bytes = 1, .drop_lock_timeout = absl::Seconds(60)});
  ASSERT_NO_FATAL_FAILURE(PublishTheFirstPartition(relay));
  OpenTransaction reader(schema_.name());
  reader.tx.exec("SELECT count(*) FROM outbox");
  absl::StatusOr<MaintainReport> m;
  std::thread maintain([&] { m = relay.Maintain(); });
  // However the test ends, the reader ends and so does the maintenance.
  absl::Cleanup end = [&] {
    if (reader.tx.conn().is_open()) reader.conn.disconnect();
    maintain.join();
  };
  // Until the maintenance waits for the reader (each poll a transaction of
  // its own: one caches pg_stat_activity as it first read it).
  for (int i = 0;; ++i) {
    ASSERT_LT(i, 3000) << "the maintenance never waited for the reader";
    absl::StatusOr<int64_t> waiting = schema_.pool().Transact([](pqxx::work& tx) {
      return tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                      " AND datname = current_database()"
                      " AND query ~* '(DETACH|DROP).*outbox_p0'")[0].as<int64_t>();
    });
    ASSERT_OK(waiting);
    if (*waiting > 0) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  // A writer meanwhile does not wait: a lock wait fails it.
  absl::Status wrote = schema_.pool().Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec("SET LOCAL lock_timeout = '2s'");
    return AppendOne(tx, "during").status();
  });
  EXPECT_OK(wrote);
  reader.tx.commit();
  std::move(end).Invoke();
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 1);
  EXPECT_EQ(*relay.RunOnce(), 1);
  EXPECT_THAT(PartitionTables(schema_.pool()),
              ::testing::ElementsAre(Table{"outbox_p1", true, false}));
}

TEST_F(OutboxTest, APartitionDetachedButNotDroppedIsDropped) {
  Relay relay(&schema_.pool(), &publisher_, {.partition_bytes = 1});
  ASSERT_NO_FATAL_FAILURE(PublishTheFirstPartition(relay));
  // As a relay stopped between the detach and the drop leaves it.
  ASSERT_OK(schema_.pool().Transact([](pqxx::work& tx) {
    tx.exec("ALTER TABLE outbox DETACH PARTITION outbox_p0");
    return absl::OkStatus();
  }));
  absl::StatusOr<MaintainReport> m = relay.Maintain();
  ASSERT_OK(m);
  EXPECT_EQ(m->dropped, 1);
  EXPECT_THAT(PartitionTables(schema_.pool()),
              ::testing::ElementsAre(Table{"outbox_p1", true, false}));
}

TEST_F(OutboxTest, WritersRacingTheRelayAndRotationLoseAndRepeatNothing) {
  // Four writers commit small transactions (some rolled back) while the
  // relay publishes and starts a new partition at every Maintain().
  Relay relay(&schema_.pool(), &publisher_,
              {.batch_size = 50, .batches_per_commit = 2, .partition_bytes = 1});
  std::mutex mu;
  std::vector<std::string> committed;
  std::atomic<int> writers_left{4};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int t = 0; t < 60; ++t) {
        const bool commit = (t + w) % 7 != 0;
        std::vector<std::string> ids;
        absl::Status s = schema_.pool().Transact(
            [&](pqxx::work& tx) -> absl::Status {
              ids.clear();
              for (int i = 0; i < 1 + t % 3; ++i) {
                auto env = AppendOne(tx, absl::StrCat("w", w));
                if (!env.ok()) return env.status();
                ids.push_back(env->event_id());
              }
              return commit ? absl::OkStatus() : absl::AbortedError("roll back");
            },
            pg::TxnOptions{.max_attempts = 1});
        ASSERT_EQ(s.ok(), commit) << s;
        if (commit) {
          std::lock_guard<std::mutex> lock(mu);
          committed.insert(committed.end(), ids.begin(), ids.end());
        }
      }
      --writers_left;
    });
  }
  int rotations = 0;
  int drops = 0;
  for (int idle = 0; idle < 3;) {
    absl::StatusOr<MaintainReport> m = relay.Maintain();
    ASSERT_OK(m);
    rotations += m->rotated;
    drops += m->dropped;
    absl::StatusOr<int> n = relay.RunOnce();
    ASSERT_OK(n);
    idle = (writers_left == 0 && *n == 0) ? idle + 1 : 0;
  }
  for (auto& t : writers) t.join();
  while (*relay.RunOnce() > 0) {
  }
  std::vector<std::string> sent;
  for (const kafka::Message& m : publisher_.published()) {
    for (const auto& [name, value] : m.headers) {
      if (name == "meridian-event-id") sent.push_back(value);
    }
  }
  EXPECT_EQ(sent.size(), committed.size());  // none twice
  EXPECT_EQ(std::set<std::string>(sent.begin(), sent.end()),
            std::set<std::string>(committed.begin(), committed.end()));
  EXPECT_GT(rotations, 1);
  EXPECT_GT(drops, 0);
  // Each writer's events leave in the order it committed them.
  std::map<std::string, std::vector<std::string>> by_writer;
  for (const kafka::Message& m : publisher_.published()) by_writer[m.key].push_back(m.value);
  for (const auto& [key, values] : by_writer) {
    std::vector<std::string> order;
    for (const std::string& v : values) {
      events::v1::EventEnvelope env;
      ASSERT_TRUE(env.ParseFromString(v));
      order.push_back(env.event_id());
    }
    std::vector<std::string> expected;
    for (const std::string& id : committed) {
      if (std::find(order.begin(), order.end(), id) != order.end()) expected.push_back(id);
    }
    EXPECT_EQ(order, expected) << key;
  }
}

TEST_F(OutboxTest, BrokerDownKeepsEventsPendingThenDelivers) {
  AppendN(7);
  Relay relay(&schema_.pool(), &publisher_);
  publisher_.FailWith(absl::UnavailableError("kafka down"));
  EXPECT_THAT(relay.RunOnce(), StatusIs(absl::StatusCode::kUnavailable));
  absl::StatusOr<Lag> lag = relay.GetLag();
  ASSERT_OK(lag);
  EXPECT_EQ(lag->pending, 7);
  EXPECT_GE(lag->oldest, absl::ZeroDuration());
  publisher_.FailWith(absl::OkStatus());
  EXPECT_EQ(*relay.RunOnce(), 7);
  EXPECT_EQ(relay.GetLag()->pending, 0);
  EXPECT_EQ(PublishedIds().size(), 7u);
}

TEST_F(OutboxTest, AFailedBatchStopsTheOnesAfterIt) {
  // Sending batch 2 after batch 1 failed would put batch 2's events on the
  // topic before batch 1's, which come again only after the rollback.
  class FailingPublisher : public kafka::Publisher {
   public:
    std::unique_ptr<kafka::Delivery> Send(absl::Span<const kafka::Message>) override {
      ++sends;
      return kafka::CompletedDelivery(absl::UnavailableError("kafka down"));
    }
    absl::Status Flush(absl::Duration) override { return absl::OkStatus(); }
    int sends = 0;
  } failing;
  AppendN(25);
  Relay relay(&schema_.pool(), &failing, {.batch_size = 10, .batches_per_commit = 4});
  EXPECT_THAT(relay.RunOnce(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(failing.sends, 1);
  EXPECT_EQ(relay.GetLag()->pending, 25);
}

TEST_F(OutboxTest, ConcurrentRelaysNeverPublishTwice) {
  std::vector<std::string> ids = AppendN(300);
  Relay a(&schema_.pool(), &publisher_, {.batch_size = 7});
  Relay b(&schema_.pool(), &publisher_, {.batch_size = 7});
  auto drain = [](Relay* r) {
    for (int idle = 0; idle < 50;) {
      absl::StatusOr<int> n = r->RunOnce();
      ASSERT_OK(n);
      idle = *n == 0 ? idle + 1 : 0;
    }
  };
  std::thread ta(drain, &a);
  std::thread tb(drain, &b);
  ta.join();
  tb.join();
  EXPECT_EQ(publisher_.published().size(), 300u);
  EXPECT_EQ(PublishedIds().size(), 300u);
}

TEST_F(OutboxTest, MarkProcessedDeduplicates) {
  const std::string id = "123e4567-e89b-42d3-a456-426614174000";
  auto mark = [&](const std::string& consumer) {
    return schema_.pool().Transact([&](pqxx::work& tx) {
      return MarkProcessed(tx, consumer, id);
    });
  };
  EXPECT_TRUE(*mark("records"));
  EXPECT_FALSE(*mark("records"));
  EXPECT_TRUE(*mark("analytics"));  // per consumer
  EXPECT_THAT(schema_.pool().Transact([&](pqxx::work& tx) {
    return MarkProcessed(tx, "records", "not-a-uuid");
  }), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseEnvelope, RejectsGarbageAndMissingId) {
  kafka::ConsumedMessage garbage{"t", 1, 42, "k", "\xff\xff\xff garbage", {}};
  EXPECT_THAT(ParseEnvelope(garbage),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("t/1@42")));
  events::v1::EventEnvelope env;
  env.set_type("x");
  kafka::ConsumedMessage no_id{"t", 0, 0, "k", env.SerializeAsString(), {}};
  EXPECT_THAT(ParseEnvelope(no_id),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("event_id")));
}

TEST(Append, RequiresTopicTypeAndKey) {
  // Validation happens before any SQL, so no transaction is needed to see it;
  // use a real one anyway to keep the call shape honest.
  pg::testing::ScratchSchema schema("append");
  ASSERT_OK(pg::Migrate(schema.pool(), schema.name(), {MigrationSet()}));
  google::protobuf::StringValue payload;
  EXPECT_THAT(schema.pool().Transact([&](pqxx::work& tx) {
    return Append(tx, {.topic = "t", .type = "", .key = "k"}, payload).status();
  }), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace meridian::outbox
