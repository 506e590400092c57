// One contract for both RecordStores; the PostgreSQL one runs against the
// real server (MERIDIAN_PG_URI).
#include <memory>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/ids/uuid.h"
#include "libs/pg/testing.h"
#include "libs/status/status_matchers.h"
#include "services/records/in_memory_record_store.h"
#include "services/records/pg_record_store.h"

namespace meridian::records {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

enum class StoreKind { kInMemory, kPostgres };

RecordRow Row(const std::string& org, const std::string& local, const std::string& patient,
              int day, const std::string& body, Kind kind = Kind::kEncounter) {
  return {.kind = kind,
          .organisation_id = org,
          .local_id = local,
          .patient_local_id = patient,
          .clinical_time = absl::FromUnixSeconds(1'700'000'000 + day * 86400),
          .codes = {"E11.9", "I10"},
          .body = body};
}

class RecordStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreKind::kInMemory) {
      store_ = std::make_unique<InMemoryRecordStore>();
      return;
    }
    schema_ = std::make_unique<pg::testing::ScratchSchema>("records", 6);
    ASSERT_OK(pg::Migrate(schema_->pool(), schema_->name(), AllMigrations()));
    store_ = std::make_unique<PgRecordStore>(&schema_->pool());
  }

  // Writes without events.
  absl::StatusOr<std::vector<WriteResult>> Write(std::vector<RecordRow> rows) {
    std::vector<WriteRequest> requests;
    for (auto& r : rows) requests.push_back({std::move(r), std::nullopt});
    return store_->Write(requests, nullptr);
  }

  std::vector<std::string> Ids(const std::vector<StoredRecord>& rs) {
    std::vector<std::string> out;
    for (const auto& r : rs) out.push_back(r.row.local_id);
    return out;
  }

  RecordQuery QueryFor(std::vector<xref::LocalId> patients, const std::string& caller) {
    RecordQuery q;
    q.patients = std::move(patients);
    q.caller_organisation = caller;
    q.own_kinds = {Kind::kEncounter, Kind::kDocument, Kind::kReferral};
    return q;
  }

  std::unique_ptr<pg::testing::ScratchSchema> schema_;
  std::unique_ptr<RecordStore> store_;
};

TEST_P(RecordStoreTest, VersionsAndHistory) {
  // A body with every byte value, to prove it round-trips.
  std::string binary;
  for (int b = 0; b < 256; ++b) binary.push_back(static_cast<char>(b));
  auto w = Write({Row("h1", "E-1", "P-1", 1, binary), Row("h1", "E-2", "P-1", 2, "b2")});
  ASSERT_OK(w);
  EXPECT_EQ(w->at(0).outcome, v1::CREATED);
  EXPECT_EQ(w->at(0).version, 1);
  w = Write({Row("h1", "E-1", "P-1", 1, binary), Row("h1", "E-2", "P-1", 3, "b2-changed"),
             Row("h1", "E-3", "P-1", 3, "b3")});
  ASSERT_OK(w);
  EXPECT_EQ(w->at(0).outcome, v1::UNCHANGED);
  EXPECT_EQ(w->at(0).version, 1);
  EXPECT_EQ(w->at(1).outcome, v1::UPDATED);
  EXPECT_EQ(w->at(1).version, 2);
  EXPECT_EQ(w->at(2).outcome, v1::CREATED);

  auto got = store_->Get({Kind::kEncounter, "h1", "E-1"});
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->row.body, binary);
  EXPECT_EQ((*got)->row.patient_local_id, "P-1");
  EXPECT_THAT((*got)->row.codes, ElementsAre("E11.9", "I10"));
  EXPECT_EQ((*got)->row.clinical_time, absl::FromUnixSeconds(1'700'000'000 + 86400));
  EXPECT_FALSE(store_->Get({Kind::kDocument, "h1", "E-1"})->has_value());

  auto history = store_->History({Kind::kEncounter, "h1", "E-2"});
  ASSERT_OK(history);
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ(history->at(0).version, 1);
  EXPECT_EQ(history->at(0).row.body, "b2");
  EXPECT_EQ(history->at(0).row.clinical_time, absl::FromUnixSeconds(1'700'000'000 + 2 * 86400));
  EXPECT_EQ(history->at(1).version, 2);
  EXPECT_EQ(history->at(1).row.body, "b2-changed");
  EXPECT_THAT(*store_->History({Kind::kEncounter, "h1", "nope"}), IsEmpty());
}

TEST_P(RecordStoreTest, EventsOnlyForRowsWrittenAndAllOrNothing) {
  int calls = 0;
  auto event_for = [&](const WriteRequest& r, const WriteResult& w)
      -> absl::StatusOr<outbox::PendingEvent> {
    ++calls;
    if (r.row.local_id == "poison") return absl::InternalError("cannot build event");
    return outbox::PendingEvent{"meridian.records.v1",
                                *outbox::NewEnvelope({.topic = "meridian.records.v1",
                                                      .type = "encounter.recorded",
                                                      .key = "h1/P-1"},
                                                     v1::Encounter())};
  };
  std::vector<WriteRequest> rs = {{Row("h1", "E-1", "P-1", 1, "a"), std::nullopt},
                                  {Row("h1", "E-2", "P-1", 1, "b"), std::nullopt}};
  ASSERT_OK(store_->Write(rs, event_for));
  EXPECT_EQ(calls, 2);
  ASSERT_OK(store_->Write(rs, event_for));
  EXPECT_EQ(calls, 2);  // unchanged: no events
  rs.push_back({Row("h1", "poison", "P-1", 1, "c"), std::nullopt});
  rs[0].row.body = "a2";
  EXPECT_THAT(store_->Write(rs, event_for).status(), StatusIs(absl::StatusCode::kInternal));
  // Nothing of the failed write landed.
  EXPECT_EQ((*store_->Get({Kind::kEncounter, "h1", "E-1"}))->row.body, "a");
  EXPECT_FALSE(store_->Get({Kind::kEncounter, "h1", "poison"})->has_value());
}

TEST_P(RecordStoreTest, ConditionalWritesAndDuplicateKeys) {
  ASSERT_OK(Write({Row("h1", "R-1", "P-1", 1, "v1", Kind::kReferral)}));
  std::vector<WriteRequest> stale = {{Row("h1", "R-1", "P-1", 1, "v2", Kind::kReferral), 0}};
  EXPECT_THAT(store_->Write(stale, nullptr).status(), StatusIs(absl::StatusCode::kAborted));
  stale[0].if_version = 1;
  ASSERT_OK(store_->Write(stale, nullptr));
  std::vector<WriteRequest> fresh = {{Row("h1", "R-2", "P-1", 1, "x", Kind::kReferral), 1}};
  EXPECT_THAT(store_->Write(fresh, nullptr).status(), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(Write({Row("h1", "E-1", "P-1", 1, "a"), Row("h1", "E-1", "P-1", 1, "b")}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Same local ID, different kind or institution: different records.
  EXPECT_OK(Write({Row("h1", "X", "P-1", 1, "a"), Row("h1", "X", "P-1", 1, "a", Kind::kDocument),
                   Row("h2", "X", "P-1", 1, "a")}));
}

TEST_P(RecordStoreTest, ConcurrentWritersOfTheSameRecordLoseNoVersion) {
  constexpr int kWriters = 4, kEach = 10;
  std::vector<std::thread> threads;
  std::atomic<int> aborted{0}, written{0};
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto w = Write({Row("h1", "E-hot", "P-1", 1, absl::StrCat("w", t, "-", i))});
        if (w.ok()) {
          ++written;
        } else if (absl::IsAborted(w.status())) {
          ++aborted;
        } else {
          ADD_FAILURE() << w.status();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto history = store_->History({Kind::kEncounter, "h1", "E-hot"});
  ASSERT_OK(history);
  // Every successful write is exactly one version, numbered without gaps.
  ASSERT_EQ(static_cast<int>(history->size()), written.load());
  for (size_t i = 0; i < history->size(); ++i) EXPECT_EQ(history->at(i).version, int64_t(i + 1));
  EXPECT_EQ(written + aborted, kWriters * kEach);
}

TEST_P(RecordStoreTest, QueryFiltersOrdersPagesAndAudits) {
  RecordRow referral = Row("h2", "R-1", "Q-7", 5, "r", Kind::kReferral);
  referral.counterpart_organisation = "h1";
  RecordRow withdrawn = Row("h2", "E-x", "Q-7", 6, "x");
  withdrawn.entered_in_error = true;
  ASSERT_OK(Write({Row("h1", "E-1", "P-1", 1, "a"), Row("h1", "D-1", "P-1", 2, "d", Kind::kDocument),
                   Row("h2", "E-9", "Q-7", 3, "b"), Row("h2", "D-9", "Q-7", 4, "c", Kind::kDocument),
                   referral, withdrawn, Row("h1", "E-other", "P-2", 7, "o"),
                   Row("h3", "E-3", "P-1", 8, "not this patient at h3")}));
  const std::vector<xref::LocalId> patient = {{"h1", "P-1"}, {"h2", "Q-7"}};
  int audits = 0;
  size_t audited_count = 0;
  auto audit = [&](const std::vector<StoredRecord>& returned)
      -> absl::StatusOr<outbox::PendingEvent> {
    ++audits;
    audited_count = returned.size();
    return outbox::PendingEvent{"meridian.audit.v1",
                                *outbox::NewEnvelope({.topic = "meridian.audit.v1",
                                                      .type = "access.recorded", .key = "k"},
                                                     v1::Encounter())};
  };

  // Own data only (referrals addressed to the caller count as its own).
  RecordQuery q = QueryFor(patient, "h1");
  auto got = store_->Query(q, audit);
  ASSERT_OK(got);
  EXPECT_THAT(Ids(*got), ElementsAre("R-1", "D-1", "E-1"));
  EXPECT_EQ(audits, 1);
  EXPECT_EQ(audited_count, 3u);

  // Shared encounters of others too.
  q.shared_kinds = {Kind::kEncounter};
  EXPECT_THAT(Ids(*store_->Query(q, audit)), ElementsAre("R-1", "E-9", "D-1", "E-1"));
  // Everything, in pages of two.
  q.shared_kinds = q.own_kinds;
  q.limit = 2;
  got = store_->Query(q, audit);
  EXPECT_THAT(Ids(*got), ElementsAre("R-1", "D-9"));
  const RecordRow& last = got->back().row;
  q.after = Cursor{last.clinical_time, last.organisation_id, last.kind, last.local_id};
  EXPECT_THAT(Ids(*store_->Query(q, audit)), ElementsAre("E-9", "D-1"));
  q.after.reset();
  q.limit = 100;
  // Time window [day 2, day 4).
  q.from = absl::FromUnixSeconds(1'700'000'000 + 2 * 86400);
  q.to = absl::FromUnixSeconds(1'700'000'000 + 4 * 86400);
  EXPECT_THAT(Ids(*store_->Query(q, audit)), ElementsAre("E-9", "D-1"));
  // A failing audit fails the read.
  EXPECT_THAT(store_->Query(q, [](const auto&) -> absl::StatusOr<outbox::PendingEvent> {
                return absl::InternalError("audit down");
              }).status(),
              StatusIs(absl::StatusCode::kInternal));
}

INSTANTIATE_TEST_SUITE_P(Stores, RecordStoreTest,
                         ::testing::Values(StoreKind::kInMemory, StoreKind::kPostgres),
                         [](const auto& info) {
                           return info.param == StoreKind::kInMemory ? "InMemory" : "Postgres";
                         });

}  // namespace
}  // namespace meridian::records
