// One contract for both PatientStore implementations: the in-memory one and
// PostgreSQL (real server, scratch schema).
#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "libs/ids/uuid.h"
#include "libs/pg/testing.h"
#include "libs/status/status_matchers.h"
#include "services/patient-index/in_memory_patient_store.h"
#include "services/patient-index/match_record.h"
#include "services/patient-index/patient_index.h"
#include "services/patient-index/pg_patient_store.h"
#include "services/patient-index/test_util.h"
#include "services/patient-index/text.h"

namespace meridian::patient {
namespace {

using ::testing::UnorderedElementsAre;

struct Backend {
  virtual ~Backend() = default;
  virtual PatientStore& store() = 0;
  virtual int64_t OutboxRows() = 0;
};

struct MemoryBackend : Backend {
  PatientStore& store() override { return s; }
  int64_t OutboxRows() override { return s.events().size(); }
  InMemoryPatientStore s;
};

struct PgBackend : Backend {
  PgBackend() : schema("pi"), s(&schema.pool()) {
    auto n = pg::Migrate(schema.pool(), schema.name(), AllMigrations());
    EXPECT_TRUE(n.ok()) << n.status();
  }
  PatientStore& store() override { return s; }
  int64_t OutboxRows() override {
    return *schema.pool().Transact([](pqxx::work& tx) {
      return tx.exec1("SELECT count(*) FROM outbox")[0].as<int64_t>();
    });
  }
  pg::testing::ScratchSchema schema;
  PgPatientStore s;
};

// A record of `org` in identity `regional`: 明 with `family`, born `dob`.
StoredRecord Record(const std::string& org, const std::string& local,
                    const std::string& regional, const std::string& family,
                    const std::string& dob) {
  StoredRecord r;
  r.organisation_id = org;
  r.local_id = local;
  r.regional_id = regional;
  r.request = testing::Person(local, family, "明", dob);
  r.response.set_regional_id(regional);
  r.request_hash = "h-" + local;
  r.match.family = family;
  r.match.given = "明";
  r.match.birth_date = dob;
  DerivePinyin(&r.match);
  return r;
}

class PatientStoreContract : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      backend_ = std::make_unique<PgBackend>();
    } else {
      backend_ = std::make_unique<MemoryBackend>();
    }
  }
  std::unique_ptr<Backend> backend_;
};

constexpr char kRegionalA[] = "123e4567-e89b-42d3-a456-426614174000";
constexpr char kRegionalB[] = "223e4567-e89b-42d3-a456-426614174000";

TEST_P(PatientStoreContract, SavesFindsAndServesCandidates) {
  PatientStore& store = backend_->store();
  ASSERT_OK(store.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalB));
    StoredRecord a = Record("org-a", "1", kRegionalA, "李", "19800101");
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(a));
    EXPECT_GT(a.id, 0);
    StoredRecord b = Record("org-b", "2", kRegionalA, "李", "19800101");
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(b));
    StoredRecord c = Record("org-b", "3", kRegionalB, "王", "19500505");
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(c));
    return absl::OkStatus();
  }));
  ASSERT_OK_AND_ASSIGN(auto found, store.FindSource("org-a", "1"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->regional_id, kRegionalA);
  EXPECT_EQ(found->request.demographics().family_name(), "李");
  EXPECT_EQ(found->match.family_pinyin, "li");
  EXPECT_EQ(found->request_hash, "h-1");

  ASSERT_OK_AND_ASSIGN(auto records, store.RecordsOf(kRegionalA));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].local_id, "1");  // oldest first

  MatchRecord probe = Record("x", "x", "", "李", "19800101").match;
  ASSERT_OK_AND_ASSIGN(auto candidates, store.Candidates(probe, 50, 100));
  std::vector<std::string> locals;
  for (const auto& c : candidates) locals.push_back(c.local_id);
  EXPECT_THAT(locals, UnorderedElementsAre("1", "2"));
  ASSERT_OK_AND_ASSIGN(auto capped, store.Candidates(probe, 1, 1));
  EXPECT_EQ(capped.size(), 1u);

  // The total cap counts records, not (key, record) rows: a record found
  // under several keys is one candidate.
  ASSERT_OK(store.Run([&](PatientUnit& u) -> absl::Status {
    // 林明 1980: shares only the given-name + year key with the probe, the
    // fourth of its keys; the three before it all find record "2" first.
    StoredRecord e = Record("org-c", "4", kRegionalB, "林", "19800505");
    return u.SaveSource(e);
  }));
  ASSERT_OK_AND_ASSIGN(auto newest_per_key, store.Candidates(probe, 1, 100));
  ASSERT_GE(newest_per_key.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto two, store.Candidates(probe, 1, 2));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_NE(two[0].id, two[1].id);
}

TEST_P(PatientStoreContract, UpdateReplacesBlockingKeys) {
  PatientStore& store = backend_->store();
  StoredRecord a = Record("org-a", "1", kRegionalA, "李", "19800101");
  ASSERT_OK(store.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    return u.SaveSource(a);
  }));
  a.match.family = "钱";
  a.match.birth_date = "19990909";
  DerivePinyin(&a.match);
  ASSERT_OK(store.Run([&](PatientUnit& u) { return u.SaveSource(a); }));
  MatchRecord old_probe = Record("x", "x", "", "李", "19800101").match;
  ASSERT_OK_AND_ASSIGN(auto none, store.Candidates(old_probe, 50, 100));
  EXPECT_TRUE(none.empty());
  MatchRecord new_probe = Record("x", "x", "", "钱", "19990909").match;
  ASSERT_OK_AND_ASSIGN(auto one, store.Candidates(new_probe, 50, 100));
  EXPECT_EQ(one.size(), 1u);
}

TEST_P(PatientStoreContract, FailedUnitLeavesNothingBehind) {
  PatientStore& store = backend_->store();
  absl::Status s = store.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    StoredRecord a = Record("org-a", "1", kRegionalA, "李", "19800101");
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(a));
    google::protobuf::StringValue payload;
    MERIDIAN_RETURN_IF_ERROR(
        u.Emit({.topic = kPatientTopic, .type = "patient.registered", .key = "k"},
               payload));
    return absl::AbortedError("changed my mind");
  });
  EXPECT_FALSE(s.ok());
  ASSERT_OK_AND_ASSIGN(auto found, store.FindSource("org-a", "1"));
  EXPECT_FALSE(found.has_value());
  EXPECT_EQ(backend_->OutboxRows(), 0);
}

TEST_P(PatientStoreContract, ReviewTasksAndEvents) {
  PatientStore& store = backend_->store();
  std::string task;
  ASSERT_OK(store.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalB));
    StoredRecord a = Record("org-a", "1", kRegionalA, "李", "19800101");
    StoredRecord b = Record("org-a", "2", kRegionalB, "李", "19800101");
    // As a registration does it: the task's ID goes into the answer saved
    // with the record, and the task follows the record.
    task = ids::NewUuid();
    b.response.set_review_task_id(task);
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(a));
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(b));
    MERIDIAN_RETURN_IF_ERROR(u.CreateReviewTasks({{task, b.id, a.id, 0.7}}));
    google::protobuf::StringValue payload;
    return u.Emit({.topic = kPatientTopic, .type = "patient.review_created",
                   .key = kRegionalB},
                  payload);
  }));
  EXPECT_EQ(backend_->OutboxRows(), 1);
  ASSERT_OK_AND_ASSIGN(auto b, store.FindSource("org-a", "2"));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->response.review_task_id(), task);
  EXPECT_EQ(b->request_hash, "h-2");  // the rest as saved
  ASSERT_OK_AND_ASSIGN(auto open, store.OpenReviewTasks("", 10));
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id, task);
  EXPECT_EQ(open[0].record_id, b->id);
}

TEST_P(PatientStoreContract, ASavedRecordHasItsIdAtOnceAndItsUnitReadsIt) {
  // A store may hold new records back until the commit (the PostgreSQL one
  // sends them with it, under ids reserved ahead): the id is still set at
  // once, in order, and any later statement of the unit sees the record.
  PatientStore& store = backend_->store();
  int64_t first = 0, second = 0;
  ASSERT_OK(store.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_ASSIGN_OR_RETURN(auto none, u.FindSource("org-a", "1"));  // ids reserved here
    EXPECT_FALSE(none.has_value());
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    StoredRecord a = Record("org-a", "1", kRegionalA, "李", "19800101");
    StoredRecord b = Record("org-a", "2", kRegionalA, "李", "19800101");
    StoredRecord c = Record("org-a", "3", kRegionalA, "李", "19800101");
    // More records than ids reserved: the rest are reserved then.
    MERIDIAN_RETURN_IF_ERROR(u.SaveSources({&a, &b, &c}));
    EXPECT_GT(a.id, 0);
    EXPECT_LT(a.id, b.id);
    EXPECT_LT(b.id, c.id);
    first = a.id;
    MERIDIAN_ASSIGN_OR_RETURN(StoredRecord read, u.RecordById(b.id));
    EXPECT_EQ(read.local_id, "2");
    EXPECT_EQ(read.regional_id, kRegionalA);
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredRecord> all, u.LockRecordsOf(kRegionalA));
    EXPECT_EQ(all.size(), 3u);
    return absl::OkStatus();
  }));
  ASSERT_OK(store.Run([&](PatientUnit& u) -> absl::Status {
    StoredRecord d = Record("org-b", "4", kRegionalA, "李", "19800101");
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(d));
    second = d.id;
    return absl::OkStatus();
  }));
  EXPECT_GT(second, first);  // a later unit's record is the more recent
  ASSERT_OK_AND_ASSIGN(auto records, store.RecordsOf(kRegionalA));
  EXPECT_EQ(records.size(), 4u);
  // A unit that fails after saving leaves nothing behind.
  EXPECT_THAT(store.Run([&](PatientUnit& u) -> absl::Status {
    StoredRecord e = Record("org-b", "5", kRegionalA, "李", "19800101");
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(e));
    return absl::FailedPreconditionError("given up");
  }), ::meridian::testing::StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(auto gone, store.FindSource("org-b", "5"));
  EXPECT_FALSE(gone.has_value());
}

TEST_P(PatientStoreContract, ReviewTasksPageTakeAndKeepApart) {
  PatientStore& store = backend_->store();
  std::vector<std::string> ids;
  std::vector<int64_t> records;
  int64_t a_id = 0, b_id = 0;
  ASSERT_OK(store.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    StoredRecord a = Record("org-a", "1", kRegionalA, "李", "19800101");
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(a));
    a_id = a.id;
    for (int i = 0; i < 3; ++i) {
      StoredRecord b = Record("org-a", "b" + std::to_string(i), kRegionalA, "李", "19800101");
      MERIDIAN_RETURN_IF_ERROR(u.SaveSource(b));
      records.push_back(b.id);
      ids.push_back(::meridian::ids::NewUuid());
      MERIDIAN_RETURN_IF_ERROR(u.CreateReviewTask({ids.back(), b.id, a.id, 0.6 + i / 10.0}));
    }
    b_id = records[2];
    return absl::OkStatus();
  }));
  // One open task per pair: a second fails its unit (at once, or at the
  // commit where a store writes tasks then), and nothing of it is kept.
  EXPECT_THAT(store.Run([&](PatientUnit& u) -> absl::Status {
    StoredRecord c = Record("org-a", "c", kRegionalA, "李", "19800101");
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(c));
    return u.CreateReviewTask({::meridian::ids::NewUuid(), records[0], a_id, 0.9});
  }), ::meridian::testing::StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_OK_AND_ASSIGN(std::optional<StoredRecord> c, store.FindSource("org-a", "c"));
  EXPECT_FALSE(c.has_value());
  ASSERT_OK_AND_ASSIGN(auto page1, store.OpenReviewTasks("", 2));
  ASSERT_EQ(page1.size(), 2u);
  EXPECT_EQ(page1[0].id, ids[0]);
  ASSERT_OK_AND_ASSIGN(auto page2, store.OpenReviewTasks(page1[1].id, 2));
  ASSERT_EQ(page2.size(), 1u);
  EXPECT_EQ(page2[0].id, ids[2]);
  EXPECT_EQ(page2[0].record_id, b_id);
  EXPECT_EQ(page2[0].candidate_id, a_id);
  b_id = records[1];

  ASSERT_OK(store.Run([&](PatientUnit& u) -> absl::Status {
    auto task = u.TakeOpenReviewTask(ids[1]);
    if (!task.ok()) return task.status();
    MERIDIAN_RETURN_IF_ERROR(u.KeepApart(task->candidate_id, task->record_id));
    MERIDIAN_RETURN_IF_ERROR(u.KeepApart(task->record_id, task->candidate_id));
    return u.CloseReviewTask(ids[1], "kept_apart", "meridian-ops", "twins");
  }));
  ASSERT_OK_AND_ASSIGN(auto open, store.OpenReviewTasks("", 10));
  EXPECT_EQ(open.size(), 2u);
  ASSERT_OK(store.Run([&](PatientUnit& u) -> absl::Status {
    EXPECT_THAT(u.TakeOpenReviewTask(ids[1]),
                ::meridian::testing::StatusIs(absl::StatusCode::kNotFound));
    auto apart = u.KeptApartFrom(a_id);
    EXPECT_THAT(*apart, ::testing::ElementsAre(b_id));
    auto apart_b = u.KeptApartFrom(b_id);
    EXPECT_THAT(*apart_b, ::testing::ElementsAre(a_id));
    return absl::OkStatus();
  }));
}

INSTANTIATE_TEST_SUITE_P(Stores, PatientStoreContract, ::testing::Values(false, true),
                         [](const auto& info) {
                           return info.param ? "Postgres" : "InMemory";
                         });

// A record of org-a in identity A: 明 with `family`, born `dob`.
StoredRecord Person(const std::string& local, const std::string& family,
                    const std::string& dob) {
  return Record("org-a", local, kRegionalA, family, dob);
}

std::vector<std::string> LocalsOf(PatientStore& store, const MatchRecord& probe) {
  std::vector<std::string> out;
  auto candidates = store.Candidates(probe, 50, 100);
  EXPECT_OK(candidates.status());
  if (candidates.ok()) {
    for (const StoredRecord& c : *candidates) out.push_back(c.local_id);
  }
  return out;
}

TEST(PgPatientStore, TermFrequenciesComeFromTheDatabase) {
  PgBackend pg;
  Model model;
  PatientIndex index(&pg.store(), &model, {.today = "20261204"});
  v1::RegisterPatientRequest f1 = testing::Person("F1", "王", "一", "1980-01-01");
  f1.mutable_demographics()->mutable_address()->set_locality("西湖镇");
  f1.mutable_demographics()->mutable_address()->set_postcode("310012");
  v1::RegisterPatientRequest f2 = testing::Person("F2", "王", "二", "1981-01-01");
  f2.mutable_demographics()->mutable_address()->set_postcode("310012");
  v1::RegisterPatientRequest f3 = testing::Person("F3", "欧阳", "三", "1982-01-01");
  f3.mutable_demographics()->mutable_address()->set_postcode("310013");
  for (const auto* r : {&f1, &f2, &f3}) ASSERT_OK(index.Register("city-hosp-1", *r));
  ASSERT_OK_AND_ASSIGN(TermFrequencies tf, pg.s.LoadTermFrequencies());
  EXPECT_NEAR(tf.Frequency(kFamily, "王"), 2.0 / 3, 1e-9);
  EXPECT_NEAR(tf.Frequency(kFamily, "欧阳"), 1.0 / 3, 1e-9);
  EXPECT_NEAR(tf.Frequency(kGiven, "一"), 1.0 / 3, 1e-9);
  EXPECT_NEAR(tf.Frequency(kPostcode, "310012"), 2.0 / 3, 1e-9);
  // Empty values are not counted: the one locality is everyone's there.
  EXPECT_NEAR(tf.Frequency(kLocality, NormalizeText("西湖镇")), 1.0, 1e-9);
  // Each field counted apart: a postcode is no family name (unseen there: one
  // in three; 1/6 if the postcodes' counts leaked into the family names').
  EXPECT_NEAR(tf.Frequency(kFamily, "310013"), 1.0 / 3, 1e-9);
}

// The total cap keeps the newest records over all keys, newest first, not
// the first found key by key: the newest record here shares only a later key
// with the probe (given name + birth year + family initial).
TEST(PgPatientStore, CandidatesAreTheNewestOverAllKeys) {
  PgBackend pg;
  StoredRecord a = Person("1", "李", "19800101");
  StoredRecord b = Person("2", "李", "19800101");
  StoredRecord newest = Person("3", "林", "19800505");
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    for (StoredRecord* r : {&a, &b, &newest}) MERIDIAN_RETURN_IF_ERROR(u.SaveSource(*r));
    return absl::OkStatus();
  }));
  MatchRecord probe = Person("x", "李", "19800101").match;
  ASSERT_OK_AND_ASSIGN(std::vector<StoredRecord> two, pg.s.Candidates(probe, 50, 2));
  std::vector<int64_t> ids;
  for (const StoredRecord& c : two) ids.push_back(c.id);
  EXPECT_EQ(ids, (std::vector<int64_t>{newest.id, b.id}));
}

// Two stores on one database stand for two replicas of the service: each
// caches candidates, and neither may serve a version the other replaced.
TEST(PgPatientStore, CandidateCacheServesOnlyTheCurrentVersion) {
  PgBackend pg;
  PgPatientStore other(&pg.schema.pool());
  auto record = [](const std::string& family) {
    StoredRecord r;
    r.organisation_id = "org-a";
    r.local_id = "1";
    r.regional_id = kRegionalA;
    r.request_hash = "h-" + family;
    r.match.family = family;
    r.match.given = "明";
    r.match.birth_date = "19800101";  // the shared key: dob:19800101
    DerivePinyin(&r.match);
    return r;
  };
  StoredRecord a = record("李");
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    return u.SaveSource(a);
  }));
  MatchRecord probe = record("赵").match;
  auto families = [&](PatientStore& store) {
    std::vector<std::string> out;
    // Held: a range-for over *Candidates(...) would outlive the StatusOr.
    auto candidates = store.Candidates(probe, 50, 100);
    EXPECT_OK(candidates.status());
    if (!candidates.ok()) return out;
    for (const StoredRecord& c : *candidates) out.push_back(c.match.family);
    return out;
  };
  EXPECT_THAT(families(pg.s), ::testing::ElementsAre("李"));
  EXPECT_EQ(pg.s.cache().size(), 1u);
  EXPECT_THAT(families(other), ::testing::ElementsAre("李"));

  // An update that rolls back must leave no trace in the key index or the
  // cache; the unit's own candidates are committed records, not its
  // uncommitted version 2 ...
  absl::Status rolled_back = pg.s.Run([&](PatientUnit& u) -> absl::Status {
    StoredRecord changed = record("钱");
    changed.id = a.id;
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(changed));
    auto seen = u.Candidates(probe, 50, 100);
    EXPECT_OK(seen);
    if (seen.ok()) {
      EXPECT_EQ(seen->size(), 1u);
      if (!seen->empty()) EXPECT_EQ((*seen)[0].match.family, "李");
    }
    return absl::AbortedError("roll back");
  });
  EXPECT_FALSE(rolled_back.ok());
  EXPECT_THAT(families(pg.s), ::testing::ElementsAre("李"));
  // ... for the other replica's version 2 is not the same record.
  ASSERT_OK(other.Run([&](PatientUnit& u) {
    StoredRecord changed = record("赵");
    changed.id = a.id;
    return u.SaveSource(changed);
  }));
  EXPECT_THAT(families(pg.s), ::testing::ElementsAre("赵"));
  EXPECT_THAT(families(other), ::testing::ElementsAre("赵"));
  // Version 2 left the keys version 1 had alone (李明 by name, whatever the
  // birth date), in both replicas.
  StoredRecord other_li = record("李");
  other_li.match.birth_date = "19700707";
  probe = other_li.match;
  EXPECT_THAT(families(pg.s), ::testing::IsEmpty());
  EXPECT_THAT(families(other), ::testing::IsEmpty());
}

TEST(PgPatientStore, LoadReadsEveryRecordsKeysAndTheNewestIntoTheCache) {
  PgBackend pg;
  std::vector<int64_t> ids;  // oldest first
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    ids.clear();
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    for (int i = 0; i < 5; ++i) {
      StoredRecord r;
      r.organisation_id = "org-a";
      r.local_id = absl::StrCat(i);
      r.regional_id = kRegionalA;
      r.match.family = "李";
      r.match.birth_date = "19800101";
      MERIDIAN_RETURN_IF_ERROR(u.SaveSource(r));
      ids.push_back(r.id);
    }
    return absl::OkStatus();
  }));
  // Records written before change_xid existed (migration 0009) have none:
  // the load reads them all the same.
  ASSERT_OK(pg.schema.pool().Transact([](pqxx::work& tx) {
    tx.exec0("UPDATE source_record SET change_xid = NULL WHERE local_id IN ('0', '1')");
    return absl::OkStatus();
  }));
  PgPatientStore small(&pg.schema.pool(), /*cache_entries=*/3);
  ASSERT_OK_AND_ASSIGN(int64_t loaded, small.Load());
  EXPECT_EQ(loaded, 5);
  EXPECT_EQ(small.key_index().records(), 5u);
  EXPECT_EQ(small.cache().size(), 3u);  // the newest, as many as fit
  std::vector<RecordVersion> all;
  for (int64_t id : ids) all.push_back({id, 1});
  std::vector<StoredRecord> held(all.size());
  std::vector<StoredRecord*> into;
  for (StoredRecord& r : held) into.push_back(&r);
  EXPECT_THAT(small.cache().Get(all, into), ::testing::ElementsAre(0, 1));
  PgPatientStore off(&pg.schema.pool(), /*cache_entries=*/0);
  ASSERT_OK_AND_ASSIGN(loaded, off.Load());
  EXPECT_EQ(loaded, 5);
  EXPECT_EQ(off.cache().size(), 0u);
  // Served partly from memory, partly from the database: the same
  // candidates, newest first.
  MatchRecord probe;
  probe.family = "李";
  probe.birth_date = "19800101";
  ASSERT_OK_AND_ASSIGN(auto cached, small.Candidates(probe, 50, 100));
  ASSERT_OK_AND_ASSIGN(auto direct, off.Candidates(probe, 50, 100));
  ASSERT_EQ(cached.size(), 5u);
  ASSERT_EQ(direct.size(), 5u);
  for (size_t i = 0; i < cached.size(); ++i) {
    EXPECT_EQ(cached[i].id, direct[i].id);
    EXPECT_EQ(cached[i].local_id, direct[i].local_id);
    EXPECT_EQ(cached[i].regional_id, direct[i].regional_id);
    EXPECT_EQ(cached[i].match.family, direct[i].match.family);
    EXPECT_EQ(cached[i].match.birth_date, direct[i].match.birth_date);
    if (i > 0) EXPECT_GT(cached[i - 1].id, cached[i].id);
  }
  // A record loaded without change_xid, updated by another replica: its
  // update has one, and the loaded replica catches up on it.
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) {
    StoredRecord changed;
    changed.id = ids[0];
    changed.organisation_id = "org-a";
    changed.local_id = "0";
    changed.regional_id = kRegionalA;
    changed.match.family = "钱";
    changed.match.birth_date = "19800101";
    return u.SaveSource(changed);
  }));
  ASSERT_OK_AND_ASSIGN(auto after, small.Candidates(probe, 50, 100));
  ASSERT_EQ(after.size(), 5u);
  EXPECT_EQ(after.back().id, ids[0]);
  EXPECT_EQ(after.back().match.family, "钱");
}

// A replica catches up on what a transaction in progress at its last
// catch-up committed later, though newer transactions committed before it:
// its snapshot had that transaction in progress, below the xmax it moved on
// to.
TEST(PgPatientStore, CatchUpSeesATransactionThatWasInProgress) {
  PgBackend pg;
  PgPatientStore other(&pg.schema.pool());
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) { return u.CreateIdentity(kRegionalA); }));
  ASSERT_OK(other.Load());
  MatchRecord li = Person("x", "李", "19800101").match;
  MatchRecord wang = Person("x", "王", "19500505").match;
  auto locals = [&](const MatchRecord& probe) { return LocalsOf(other, probe); };

  absl::Notification written, release;
  std::thread slow([&] {
    ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
      StoredRecord slow_record = Person("slow", "李", "19800101");
      MERIDIAN_RETURN_IF_ERROR(u.SaveSource(slow_record));
      written.Notify();
      release.WaitForNotification();
      return absl::OkStatus();
    }));
  });
  written.WaitForNotification();
  EXPECT_THAT(locals(li), ::testing::IsEmpty());  // in progress: not yet
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) {
    StoredRecord fast = Person("fast", "王", "19500505");
    return u.SaveSource(fast);
  }));
  EXPECT_THAT(locals(wang), ::testing::ElementsAre("fast"));
  ASSERT_TRUE(other.key_index().horizon().has_value());
  release.Notify();
  slow.join();
  EXPECT_THAT(locals(li), ::testing::ElementsAre("slow"));
  EXPECT_EQ(other.key_index().records(), 2u);
}

// A unit whose transaction already has an ID when it catches up (its FOR
// UPDATE of an existing record gave it one), with a later transaction
// finished meanwhile: PostgreSQL leaves the unit's own ID out of its
// snapshot, which must not become a horizon the unit's records fall behind.
TEST(PgPatientStore, CatchUpCountsItsOwnTransactionInProgress) {
  PgBackend pg;
  StoredRecord existing = Person("existing", "王", "19500505");
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    return u.SaveSource(existing);
  }));
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_ASSIGN_OR_RETURN(auto found, u.FindSources({{"org-a", "existing"}}));
    EXPECT_TRUE(found[0].has_value());
    // Another transaction, started and finished after this one got its ID.
    EXPECT_OK(pg.schema.pool().Transact([](pqxx::work& tx) {
      tx.exec0("INSERT INTO identity (regional_id) VALUES (gen_random_uuid())");
      return absl::OkStatus();
    }));
    MatchRecord probe = Person("x", "李", "19800101").match;
    MERIDIAN_RETURN_IF_ERROR(u.Candidates(probe, 50, 100).status());
    StoredRecord added = Person("added", "李", "19800101");
    return u.SaveSource(added);
  }));
  EXPECT_THAT(LocalsOf(pg.s, Person("x", "李", "19800101").match),
              ::testing::ElementsAre("added"));
}

// A unit that wrote a record sees its own version of it, not the one another
// replica committed before: catching up then must not move the horizon, or
// the other version is lost once the unit rolls back.
TEST(PgPatientStore, ACatchUpAfterTheUnitWroteKeepsTheHorizon) {
  PgBackend pg;
  PgPatientStore other(&pg.schema.pool());
  StoredRecord a = Person("1", "李", "19800101");
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    return u.SaveSource(a);
  }));
  MatchRecord by_dob = Person("x", "赵", "19800101").match;  // every version's key
  EXPECT_THAT(LocalsOf(pg.s, by_dob), ::testing::ElementsAre("1"));
  ASSERT_OK(other.Run([&](PatientUnit& u) {
    StoredRecord v2 = Person("1", "赵", "19800101");
    v2.id = a.id;
    return u.SaveSource(v2);
  }));
  absl::Status rolled_back = pg.s.Run([&](PatientUnit& u) -> absl::Status {
    StoredRecord v3 = Person("1", "钱", "19800101");
    v3.id = a.id;
    MERIDIAN_RETURN_IF_ERROR(u.SaveSource(v3));
    MERIDIAN_RETURN_IF_ERROR(u.Candidates(by_dob, 50, 100).status());
    return absl::InvalidArgumentError("roll back");
  });
  EXPECT_FALSE(rolled_back.ok());
  ASSERT_OK_AND_ASSIGN(auto seen, pg.s.Candidates(by_dob, 50, 100));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].match.family, "赵");  // the other replica's version 2
}

// The identities a registration leans on are locked and checked with its
// writes, in the round trip that commits: a merge that commits between the
// unit's reads and then fails the unit with a serialization failure, and the
// pool runs it again. `hold` keeps the merge open (holding the identity's
// lock) until the unit's commit waits for it.
void MergeBeforeTheCommit(bool hold) {
  PgBackend pg;
  StoredRecord a = Person("1", "李", "19800101");
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalB));
    return u.SaveSource(a);
  }));
  PgPatientStore other(&pg.schema.pool());
  absl::Notification merge_locked, commit_waits;
  auto merge = [&] {
    EXPECT_OK(other.Run([&](PatientUnit& m) -> absl::Status {
      MERIDIAN_RETURN_IF_ERROR(m.LockIdentity(kRegionalA).status());
      StoredRecord moved = a;
      moved.regional_id = kRegionalB;
      MERIDIAN_RETURN_IF_ERROR(m.SaveSource(moved));
      MERIDIAN_RETURN_IF_ERROR(m.SetMergedInto(kRegionalA, kRegionalB));
      if (!merge_locked.HasBeenNotified()) merge_locked.Notify();
      if (hold) commit_waits.WaitForNotification();
      return absl::OkStatus();
    }));
  };
  std::thread merging, releaser;
  int attempts = 0;
  std::vector<std::vector<std::string>> answers;
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    ++attempts;
    // BEGIN, the reads and the ids go first, as in a registration.
    MERIDIAN_RETURN_IF_ERROR(u.FindSource("org-a", "3").status());
    // What a registration read: a candidate in A (then, run again, in B).
    const std::string leans_on = attempts == 1 ? kRegionalA : kRegionalB;
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> merged_into,
                              u.LockIdentitiesLazily({leans_on}));
    answers.push_back(merged_into);
    if (attempts == 1) {
      merging = std::thread(merge);
      if (hold) {
        merge_locked.WaitForNotification();
        // The merge commits once the unit's commit is waiting on its lock.
        releaser = std::thread([&] {
          absl::SleepFor(absl::Milliseconds(300));
          commit_waits.Notify();
        });
      } else {
        merging.join();  // committed
      }
    }
    StoredRecord c = Person("3", "李", "19800101");
    c.regional_id = leans_on;
    return u.SaveSource(c);
  }));
  if (merging.joinable()) merging.join();
  if (releaser.joinable()) releaser.join();
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(answers, (std::vector<std::vector<std::string>>{{""}, {""}}));  // answered live
  ASSERT_OK_AND_ASSIGN(std::optional<StoredRecord> c, pg.s.FindSource("org-a", "3"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->regional_id, kRegionalB);  // never written into the retired A
  ASSERT_OK_AND_ASSIGN(std::vector<StoredRecord> in_a, pg.s.RecordsOf(kRegionalA));
  EXPECT_TRUE(in_a.empty());
}

TEST(PgPatientStore, AMergeCommittedBeforeTheCommitRunsTheUnitAgain) {
  MergeBeforeTheCommit(/*hold=*/false);
}

TEST(PgPatientStore, AMergeTheCommitWaitsForRunsTheUnitAgain) {
  MergeBeforeTheCommit(/*hold=*/true);
}

TEST(SpareIds, GivesWhatItHasInOrderAndNothingWhenShort) {
  internal::SpareIds spares;
  std::deque<int64_t> mine;
  EXPECT_FALSE(spares.Take(1, mine));
  std::deque<int64_t> given = {7, 8, 9};
  spares.Give(given);
  EXPECT_TRUE(given.empty());
  std::deque<int64_t> late = {3, 4};  // a unit that gives back after another
  spares.Give(late);
  EXPECT_FALSE(spares.Take(6, mine));
  EXPECT_TRUE(mine.empty());
  EXPECT_TRUE(spares.Take(2, mine));
  EXPECT_EQ(mine, (std::deque<int64_t>{3, 4}));
  EXPECT_TRUE(spares.Take(3, mine));
  EXPECT_EQ(mine, (std::deque<int64_t>{3, 4, 7, 8, 9}));
}

// A group takes its new records' IDs from the store's spares; the sequence
// is asked for a batch only when they run short, and an update's unused ID
// goes back for the next.
TEST(PgPatientStore, NewRecordsTakeIdsReservedAheadAndUpdatesGiveTheirsBack) {
  PgBackend pg;
  auto sequence = [&] {
    return *pg.schema.pool().Transact([](pqxx::work& tx) {
      return tx.exec1("SELECT last_value FROM source_record_id_seq")[0].as<int64_t>();
    });
  };
  auto register_new = [&](const std::string& local) {
    StoredRecord r = Person(local, "李", "19800101");
    EXPECT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
      MERIDIAN_ASSIGN_OR_RETURN(auto found, u.FindSources({{"org-a", local}}));
      if (found[0].has_value()) r.id = found[0]->id;
      return u.SaveSource(r);
    }));
    return r.id;
  };
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) { return u.CreateIdentity(kRegionalA); }));
  const int64_t first = register_new("1");
  const int64_t reserved = sequence();
  EXPECT_GT(reserved, first + 32);  // a batch ahead
  EXPECT_EQ(register_new("2"), first + 1);
  EXPECT_EQ(register_new("2"), first + 1);  // an update: its id goes back
  EXPECT_EQ(register_new("3"), first + 2);
  // A unit that saves without finding its sources first takes them too.
  StoredRecord direct = Person("direct", "李", "19800101");
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) { return u.SaveSource(direct); }));
  EXPECT_EQ(direct.id, first + 3);
  EXPECT_EQ(sequence(), reserved);  // no statement for them
  for (int i = 4; i < 100; ++i) register_new(absl::StrCat(i));
  EXPECT_GT(sequence(), reserved);  // the batch ran out: another
  ASSERT_OK_AND_ASSIGN(auto last, pg.s.FindSource("org-a", "99"));
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->id, first + 99);  // no ID skipped
}

// Registrations lock the identities they lean on shared (advisory locks,
// migration 0011): one never waits for another, and a merge (which locks
// them exclusive) waits for every registration that holds one to commit.
TEST(PgPatientStore, RegistrationsShareAnIdentitysLockAndAMergeWaitsForThem) {
  PgBackend pg;
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) { return u.CreateIdentity(kRegionalA); }));
  absl::Notification held, release;
  std::thread registration([&] {
    EXPECT_OK(pg.schema.pool().Transact([&](pqxx::work& tx) {
      tx.exec_params("SELECT expect_live_identities($1::uuid[])",
                     std::string("{") + kRegionalA + "}");
      held.Notify();
      release.WaitForNotification();
      return 0;
    }).status());
  });
  held.WaitForNotification();
  // Another registration leaning on A goes through at once.
  ASSERT_OK(pg.schema.pool().Transact([&](pqxx::work& tx) {
    tx.exec("SET LOCAL lock_timeout = '2s'");
    tx.exec_params("SELECT expect_live_identities($1::uuid[])",
                   std::string("{") + kRegionalA + "}");
    return 0;
  }).status());
  // A merge's lock on A waits for the first to commit.
  std::atomic<bool> merged{false};
  std::thread merge([&] {
    EXPECT_OK(pg.s.Run([&](PatientUnit& m) -> absl::Status {
      MERIDIAN_RETURN_IF_ERROR(m.LockIdentity(kRegionalA).status());
      merged = true;
      return absl::OkStatus();
    }));
  });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(merged.load());
  release.Notify();
  registration.join();
  merge.join();
  EXPECT_TRUE(merged.load());
}

TEST(PgPatientStore, AnIdentityThatDoesNotExistFailsTheUnitOnce) {
  PgBackend pg;
  int attempts = 0;
  EXPECT_THAT(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    ++attempts;
    MERIDIAN_RETURN_IF_ERROR(
        u.LockIdentitiesLazily({"323e4567-e89b-42d3-a456-426614174000"}).status());
    StoredRecord d = Person("4", "李", "19800101");
    return u.SaveSource(d);
  }), ::meridian::testing::StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(attempts, 1);  // no retry can mend it
  ASSERT_OK_AND_ASSIGN(std::optional<StoredRecord> d, pg.s.FindSource("org-a", "4"));
  EXPECT_FALSE(d.has_value());
}

// A transaction in progress while a replica loads: the load's snapshot
// leaves its records out, and the first catch-up after it commits brings
// them in.
TEST(PgPatientStore, LoadThenCatchUpSeeATransactionInProgressDuringTheLoad) {
  PgBackend pg;
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) { return u.CreateIdentity(kRegionalA); }));
  absl::Notification written, release;
  std::thread slow([&] {
    ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
      StoredRecord r = Person("slow", "李", "19800101");
      MERIDIAN_RETURN_IF_ERROR(u.SaveSource(r));
      written.Notify();
      release.WaitForNotification();
      return absl::OkStatus();
    }));
  });
  written.WaitForNotification();
  PgPatientStore loading(&pg.schema.pool());
  ASSERT_OK_AND_ASSIGN(int64_t loaded, loading.Load());
  EXPECT_EQ(loaded, 0);
  release.Notify();
  slow.join();
  EXPECT_THAT(LocalsOf(loading, Person("x", "李", "19800101").match),
              ::testing::ElementsAre("slow"));
}

// The catch-up's plan as the service runs it (one generic plan per
// connection) scans the change_xid index by range, whatever the statistics
// guess: a whole-index or whole-table scan cost 200 ms a call.
TEST(PgPatientStore, CatchUpPlanIsTwoIndexRangeScans) {
  PgBackend pg;
  ASSERT_OK(pg.schema.pool().Transact([](pqxx::work& tx) {
    tx.exec0("INSERT INTO identity (regional_id) VALUES ('" + std::string(kRegionalA) + "')");
    // 20,000 records written before change_xid existed, 2,000 since.
    tx.exec0(
        "INSERT INTO source_record (organisation_id, local_id, regional_id, request,"
        " response, request_hash, family, given, family_pinyin, given_pinyin, sex,"
        " birth_date, phone, street_number, address, locality, postcode, region,"
        " resident_id, other_id, change_xid)"
        " SELECT 'org-a', g::text, '" + std::string(kRegionalA) + "', '', '', '', '李',"
        " '明', 'li', 'ming', 'm', '19800101', '', '', '', '', '', '', '', '',"
        " CASE WHEN g > 20000 THEN pg_current_xact_id() END"
        " FROM generate_series(1, 22000) g");
    tx.exec0("ANALYZE source_record");
    return absl::OkStatus();
  }));
  pg::PoolOptions options = pg.schema.pool_options();
  options.generic_plans = true;
  options.jit = false;
  pg::Pool service_like(options);
  ASSERT_OK_AND_ASSIGN(std::string plan, service_like.Transact([](pqxx::work& tx) {
    tx.exec0("PREPARE catch_up AS " + internal::CatchUpSql());
    std::string text;
    for (const auto& row : tx.exec("EXPLAIN EXECUTE catch_up('1', '{}', '9223372036854775807')")) {
      text += row[0].as<std::string>() + "\n";
    }
    tx.exec0("DEALLOCATE catch_up");
    return text;
  }));
  EXPECT_THAT(plan, ::testing::Not(::testing::HasSubstr("Seq Scan"))) << plan;
  EXPECT_THAT(plan, ::testing::Not(::testing::HasSubstr("Filter: (((change_xid >="))) << plan;
  EXPECT_THAT(plan, ::testing::ContainsRegex(
                        "Index Cond: \\(\\(change_xid >= \\$1\\) AND \\(change_xid <= \\$3\\)\\)"))
      << plan;
  EXPECT_THAT(plan, ::testing::HasSubstr("Index Cond: ((change_xid = ANY ($2))"));
}

// After LockKeys, FindSources reads the records and catches the key index
// up in one round trip (binary rows): what another replica committed is a
// candidate without another statement, and the records read are whole.
TEST(PgPatientStore, LockedFindSourcesReadsRecordsAndCatchesUp) {
  PgBackend pg;
  PgPatientStore other(&pg.schema.pool());
  StoredRecord existing = Person("existing", "王", "19500505");
  existing.request = testing::Person("existing", "王", "明", "1950-05-05");
  existing.response.set_regional_id(kRegionalA);
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.CreateIdentity(kRegionalA));
    return u.SaveSource(existing);
  }));
  ASSERT_OK(other.Run([&](PatientUnit& u) {
    StoredRecord added = Person("added", "李", "19800101");
    return u.SaveSource(added);
  }));
  ASSERT_OK(pg.s.Run([&](PatientUnit& u) -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(u.LockKeys({"src:org-a/existing", "src:org-a/nobody"}));
    MERIDIAN_ASSIGN_OR_RETURN(auto found,
                              u.FindSources({{"org-a", "existing"}, {"org-a", "nobody"}}));
    EXPECT_EQ(found.size(), 2u);
    EXPECT_TRUE(found[0].has_value());
    if (found[0].has_value()) {
      EXPECT_EQ(found[0]->id, existing.id);
      EXPECT_EQ(found[0]->regional_id, kRegionalA);
      EXPECT_EQ(found[0]->request.demographics().family_name(), "王");
      EXPECT_EQ(found[0]->response.regional_id(), kRegionalA);
      EXPECT_EQ(found[0]->request_hash, "h-existing");
      EXPECT_EQ(found[0]->match.family_pinyin, "wang");
    }
    EXPECT_FALSE(found[1].has_value());
    MERIDIAN_ASSIGN_OR_RETURN(auto li, u.Candidates(Person("x", "李", "19800101").match, 50, 100));
    EXPECT_EQ(li.size(), 1u);
    if (!li.empty()) EXPECT_EQ(li[0].local_id, "added");
    return absl::OkStatus();
  }));
}

// Many registrations at once over PostgreSQL, each person registered by two
// institutions at unrelated moments: groups commit together, and every pair
// still ends up in one identity.
TEST(PgPatientIndex, ConcurrentRegistrationsLinkEachPairOnce) {
  PgBackend pg;
  Model model;
  PatientIndex index(&pg.store(), &model,
                     {.today = "20261204", .group_commit = {.max_groups = 2, .max_items = 16}});
  constexpr int kPeople = 100, kThreads = 8;
  std::vector<std::pair<std::string, v1::RegisterPatientRequest>> work;
  for (int p = 0; p < kPeople; ++p) {
    const std::string dob = absl::StrCat(1940 + p % 60, "-0", 1 + p % 9, "-1", p % 10);
    const std::string compact = absl::StrCat(1940 + p % 60, "0", 1 + p % 9, "1", p % 10);
    for (const char* org : {"city-hosp-1", "county-hosp-east"}) {
      auto req = testing::Person(absl::StrCat("P", p), "王", absl::StrCat("名", p), dob,
                                 absl::StrCat("1380000", 1000 + p));
      testing::AddId(&req, v1::RESIDENT_ID, testing::ResidentIdFor(compact, 2 * p));  // even: female
      work.emplace_back(org, req);
    }
  }
  std::mt19937 shuffle(7);
  std::shuffle(work.begin(), work.end(), shuffle);
  std::map<std::pair<std::string, std::string>, std::string> regional;
  std::mutex mu;
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < work.size(); i = next++) {
        auto r = index.Register(work[i].first, work[i].second);
        ASSERT_OK(r);
        std::lock_guard<std::mutex> lock(mu);
        regional[{work[i].first, work[i].second.local_id()}] = r->regional_id();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(regional.size(), 2u * kPeople);
  for (int p = 0; p < kPeople; ++p) {
    const std::string local = absl::StrCat("P", p);
    EXPECT_EQ((regional[{"city-hosp-1", local}]), (regional[{"county-hosp-east", local}]))
        << local;
  }
  auto count = [&](const char* sql) {
    return *pg.schema.pool().Transact(
        [&](pqxx::work& tx) { return tx.exec1(sql)[0].as<int64_t>(); });
  };
  EXPECT_EQ(count("SELECT count(*) FROM identity"), kPeople);
  EXPECT_EQ(count("SELECT count(*) FROM source_record"), 2 * kPeople);
  // registered + linked for every record, review_created for every task
  // (similar people: same surname, close birth dates), whatever outbox rows
  // they share.
  EXPECT_EQ(count("SELECT coalesce(sum(events), 0) FROM outbox"),
            4 * kPeople + count("SELECT count(*) FROM review_task"));
  // Every record is in the key index once a lookup has caught up.
  ASSERT_OK(pg.s.Candidates(MatchRecord{}, 1, 1).status());
  EXPECT_EQ(static_cast<int64_t>(pg.s.key_index().records()), 2 * kPeople);
}

// The whole logic over PostgreSQL: registering twice from two institutions.
TEST(PgPatientIndex, RegistersAndLinksAcrossInstitutions) {
  PgBackend pg;
  Model model;
  PatientIndex index(&pg.store(), &model, {.today = "20261204"});
  auto a = testing::Person("A1", "刘", "洋", "1988-08-08", "13333333333");
  testing::AddId(&a, v1::RESIDENT_ID, testing::ResidentIdFor("19880808", 2));
  auto b = testing::Person("B1", "刘", "阳", "1988-08-08", "13333333333");
  ASSERT_OK_AND_ASSIGN(auto ra, index.Register("city-hosp-1", a));
  ASSERT_OK_AND_ASSIGN(auto rb, index.Register("county-hosp-east", b));
  EXPECT_EQ(ra.decision(), v1::NEW_IDENTITY);
  EXPECT_EQ(rb.decision(), v1::AUTO_LINKED);
  EXPECT_EQ(rb.regional_id(), ra.regional_id());
  ASSERT_OK_AND_ASSIGN(auto again, index.Register("county-hosp-east", b));
  EXPECT_TRUE(again.unchanged());
  ASSERT_OK_AND_ASSIGN(auto p, index.GetPatient(ra.regional_id()));
  EXPECT_EQ(p.sources_size(), 2);
  EXPECT_EQ(p.identifiers_size(), 1);
  EXPECT_EQ(pg.OutboxRows(), 4);  // registered + linked, for each record
}

}  // namespace
}  // namespace meridian::patient
