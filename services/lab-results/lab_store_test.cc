// One contract for both LabStores; the PostgreSQL one runs against the real
// server (MERIDIAN_PG_URI).
#include <atomic>
#include <memory>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/pg/testing.h"
#include "libs/status/status_matchers.h"
#include "services/lab-results/in_memory_lab_store.h"
#include "services/lab-results/pg_lab_store.h"

namespace meridian::labs {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

enum class StoreKind { kInMemory, kPostgres };

absl::Time Day(int day) { return absl::FromUnixSeconds(1'700'000'000 + day * 86400); }

ReportRow Row(const std::string& org, const std::string& local, const std::string& patient_org,
              const std::string& patient, int day, std::vector<std::string> codes,
              const std::string& body) {
  return {.organisation_id = org,
          .local_id = local,
          .patient_organisation_id = patient_org,
          .patient_local_id = patient,
          .collected_at = Day(day),
          .loinc_codes = std::move(codes),
          .body = body};
}

outbox::PendingEvent Event(const std::string& type) {
  outbox::EventHeader header;
  header.topic = "meridian.labs.v1";
  header.type = type;
  header.key = "h1/P-1";
  return {header.topic, *outbox::NewEnvelope(header, v1::LabReport())};
}

// What a service's events_for does: reported when created, corrected when
// updated.
EventsFor ReportedOrCorrected(std::vector<WriteResult>* seen) {
  return [seen](const WriteResult& w) -> absl::StatusOr<std::vector<outbox::PendingEvent>> {
    seen->push_back(w);
    return std::vector<outbox::PendingEvent>{Event(
        w.outcome == WriteOutcome::kCreated ? "lab.report.reported" : "lab.report.corrected")};
  };
}

std::vector<std::string> Ids(const std::vector<StoredReport>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.row.local_id);
  return out;
}

class LabStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreKind::kInMemory) {
      auto store = std::make_unique<InMemoryLabStore>();
      in_memory_ = store.get();
      store_ = std::move(store);
      return;
    }
    schema_ = std::make_unique<pg::testing::ScratchSchema>("labs", 4);
    ASSERT_OK(pg::Migrate(schema_->pool(), schema_->name(), AllMigrations()));
    store_ = std::make_unique<PgLabStore>(&schema_->pool());
  }

  absl::StatusOr<WriteResult> Write(const ReportRow& row) { return store_->Write(row, nullptr); }

  // The types of the events appended so far, in order.
  std::vector<std::string> Appended() {
    std::vector<std::string> out;
    if (in_memory_ != nullptr) {
      for (const auto& e : in_memory_->events()) out.push_back(e.envelope.type());
      return out;
    }
    auto types = schema_->pool().Transact([](pqxx::work& tx) {
      std::vector<std::string> types;
      for (const auto& r : tx.exec("SELECT event_type FROM outbox ORDER BY id")) {
        types.push_back(r[0].as<std::string>());
      }
      return types;
    });
    EXPECT_OK(types);
    return types.value_or(out);
  }

  std::vector<std::string> QueryIds(const ReportQuery& q) {
    auto got = store_->Query(q, nullptr);
    EXPECT_OK(got);
    return got.ok() ? Ids(*got) : std::vector<std::string>{"<error>"};
  }

  std::unique_ptr<pg::testing::ScratchSchema> schema_;
  std::unique_ptr<LabStore> store_;
  InMemoryLabStore* in_memory_ = nullptr;
};

TEST_P(LabStoreTest, CreatesLeavesUnchangedAndUpdatesWithHistory) {
  // A body with every byte value, to prove it round-trips.
  std::string binary;
  for (int b = 0; b < 256; ++b) binary.push_back(static_cast<char>(b));
  const ReportRow first = Row("lab9", "L-1", "h1", "P-1", 1, {"2345-7", "2160-0"}, binary);

  auto w = Write(first);
  ASSERT_OK(w);
  EXPECT_EQ(w->outcome, WriteOutcome::kCreated);
  EXPECT_EQ(w->version, 1);
  w = Write(first);
  ASSERT_OK(w);
  EXPECT_EQ(w->outcome, WriteOutcome::kUnchanged);
  EXPECT_EQ(w->version, 1);

  auto got = store_->Get("lab9", "L-1");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  const StoredReport v1 = **got;
  EXPECT_EQ(v1.row.body, binary);
  EXPECT_EQ(v1.row.patient_organisation_id, "h1");
  EXPECT_EQ(v1.row.patient_local_id, "P-1");
  EXPECT_EQ(v1.row.collected_at, Day(1));
  EXPECT_THAT(v1.row.loinc_codes, ElementsAre("2345-7", "2160-0"));
  EXPECT_EQ(v1.version, 1);

  // A corrected body, then the same body with another collection time: both
  // are new versions.
  ReportRow second = first;
  second.body = "corrected";
  w = Write(second);
  ASSERT_OK(w);
  EXPECT_EQ(w->outcome, WriteOutcome::kUpdated);
  EXPECT_EQ(w->version, 2);
  ReportRow third = second;
  third.collected_at = Day(2);
  third.loinc_codes = {"2345-7"};
  w = Write(third);
  ASSERT_OK(w);
  EXPECT_EQ(w->outcome, WriteOutcome::kUpdated);
  EXPECT_EQ(w->version, 3);

  auto history = store_->History("lab9", "L-1");
  ASSERT_OK(history);
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ(history->at(0).version, 1);
  EXPECT_EQ(history->at(0).row.body, binary);
  EXPECT_THAT(history->at(0).row.loinc_codes, ElementsAre("2345-7", "2160-0"));
  EXPECT_EQ(history->at(0).recorded_at, v1.recorded_at);
  EXPECT_EQ(history->at(1).version, 2);
  EXPECT_EQ(history->at(1).row.body, "corrected");
  EXPECT_EQ(history->at(1).row.collected_at, Day(1));
  EXPECT_EQ(history->at(2).version, 3);
  EXPECT_EQ(history->at(2).row.collected_at, Day(2));
  EXPECT_THAT(history->at(2).row.loinc_codes, ElementsAre("2345-7"));
  EXPECT_LE(history->at(0).recorded_at, history->at(2).recorded_at);
  EXPECT_EQ((*store_->Get("lab9", "L-1"))->version, 3);

  // Unknown: another institution's order with the same ID, or no such ID.
  EXPECT_FALSE(store_->Get("h1", "L-1")->has_value());
  EXPECT_FALSE(store_->Get("lab9", "nope")->has_value());
  EXPECT_THAT(*store_->History("h1", "L-1"), IsEmpty());
}

TEST_P(LabStoreTest, TimesAreKeptToTheMicrosecond) {
  ReportRow row = Row("lab9", "L-1", "h1", "P-1", 1, {"2345-7"}, "b");
  row.collected_at += absl::Nanoseconds(1'234'567);
  ASSERT_OK(Write(row));
  EXPECT_EQ((*store_->Get("lab9", "L-1"))->row.collected_at, Day(1) + absl::Microseconds(1234));
  // What is stored does not change by writing the same time again.
  EXPECT_EQ(Write(row)->outcome, WriteOutcome::kUnchanged);

  row.collected_at = absl::InfiniteFuture();
  EXPECT_THAT(Write(row).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(LabStoreTest, EventsOnlyWhenWrittenWithTheOutcome) {
  std::vector<WriteResult> seen;
  ReportRow row = Row("lab9", "L-1", "h1", "P-1", 1, {"2345-7"}, "v1");
  ASSERT_OK(store_->Write(row, ReportedOrCorrected(&seen)));
  ASSERT_OK(store_->Write(row, ReportedOrCorrected(&seen)));  // unchanged
  row.body = "v2";
  ASSERT_OK(store_->Write(row, ReportedOrCorrected(&seen)));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].outcome, WriteOutcome::kCreated);
  EXPECT_EQ(seen[0].version, 1);
  EXPECT_EQ(seen[1].outcome, WriteOutcome::kUpdated);
  EXPECT_EQ(seen[1].version, 2);
  EXPECT_THAT(Appended(), ElementsAre("lab.report.reported", "lab.report.corrected"));

  // Events that cannot be built fail the write: nothing is stored.
  auto failing = [](const WriteResult&) -> absl::StatusOr<std::vector<outbox::PendingEvent>> {
    return absl::InternalError("cannot build event");
  };
  row.body = "v3";
  EXPECT_THAT(store_->Write(row, failing).status(), StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(store_->Write(Row("lab9", "L-2", "h1", "P-1", 1, {}, "x"), failing).status(),
              StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ((*store_->Get("lab9", "L-1"))->row.body, "v2");
  EXPECT_THAT(*store_->History("lab9", "L-1"), ::testing::SizeIs(2));
  EXPECT_FALSE(store_->Get("lab9", "L-2")->has_value());
  EXPECT_THAT(Appended(), ElementsAre("lab.report.reported", "lab.report.corrected"));
}

// The patient is P-1 at h1 and Q-7 at h2; lab9 is a regional laboratory
// performing for both hospitals.
class LabStoreQueryTest : public LabStoreTest {
 protected:
  void SetUp() override {
    LabStoreTest::SetUp();
    if (HasFatalFailure()) return;
    for (const ReportRow& r : {
             Row("h1", "L-1", "h1", "P-1", 1, {"2345-7"}, "glucose at h1"),
             Row("lab9", "L-2", "h1", "P-1", 2, {"2345-7", "2160-0"}, "for h1"),
             Row("h2", "L-3", "h2", "Q-7", 3, {"718-7"}, "haemoglobin at h2"),
             Row("lab9", "L-4", "h2", "Q-7", 4, {"2160-0"}, "for h2"),
             Row("h2", "L-7", "h2", "Q-7", 4, {"718-7"}, "same day at h2"),
             Row("h2", "L-8", "h2", "Q-7", 4, {"2345-7"}, "same day at h2 again"),
             // Other patients: P-1 at h3, P-2 at h1.
             Row("h3", "L-5", "h3", "P-1", 5, {"2345-7"}, "someone else"),
             Row("h1", "L-6", "h1", "P-2", 6, {"2345-7"}, "someone else"),
         }) {
      ASSERT_OK(Write(r));
    }
  }

  ReportQuery QueryFor(const std::string& caller) {
    ReportQuery q;
    q.patients = {{"h1", "P-1"}, {"h2", "Q-7"}};
    q.caller_organisation = caller;
    return q;
  }
};

TEST_P(LabStoreQueryTest, AcrossInstitutionsNewestFirst) {
  // Ties on collected_at: institution, then local ID, descending.
  EXPECT_THAT(QueryIds(QueryFor("h1")), ElementsAre("L-4", "L-8", "L-7", "L-3", "L-2", "L-1"));
  // A patient named twice is read once; nobody: nothing.
  ReportQuery q = QueryFor("h1");
  q.patients.push_back({"h1", "P-1"});
  EXPECT_THAT(QueryIds(q), ElementsAre("L-4", "L-8", "L-7", "L-3", "L-2", "L-1"));
  q.patients.clear();
  EXPECT_THAT(QueryIds(q), IsEmpty());
}

TEST_P(LabStoreQueryTest, OwnOnlyMeansPerformedByOrRegisteredWithTheCaller) {
  ReportQuery q = QueryFor("h1");
  q.include_other_institutions = false;
  // Performed by h1 (L-1), or by lab9 for a patient h1 registered (L-2).
  EXPECT_THAT(QueryIds(q), ElementsAre("L-2", "L-1"));
  q.caller_organisation = "h2";
  EXPECT_THAT(QueryIds(q), ElementsAre("L-4", "L-8", "L-7", "L-3"));
  q.caller_organisation = "lab9";
  EXPECT_THAT(QueryIds(q), ElementsAre("L-4", "L-2"));
  q.caller_organisation = "h3";
  EXPECT_THAT(QueryIds(q), IsEmpty());
}

TEST_P(LabStoreQueryTest, LoincPerformerAndTimeFilters) {
  ReportQuery q = QueryFor("h1");
  q.loinc_codes = {"2160-0"};
  EXPECT_THAT(QueryIds(q), ElementsAre("L-4", "L-2"));
  q.loinc_codes = {"2160-0", "718-7"};
  EXPECT_THAT(QueryIds(q), ElementsAre("L-4", "L-7", "L-3", "L-2"));
  q.loinc_codes = {"9999-9"};
  EXPECT_THAT(QueryIds(q), IsEmpty());
  q.loinc_codes.clear();

  q.performed_by = {"lab9"};
  EXPECT_THAT(QueryIds(q), ElementsAre("L-4", "L-2"));
  q.performed_by = {"h1", "h2"};
  EXPECT_THAT(QueryIds(q), ElementsAre("L-8", "L-7", "L-3", "L-1"));
  q.loinc_codes = {"2345-7"};
  EXPECT_THAT(QueryIds(q), ElementsAre("L-8", "L-1"));
  q.loinc_codes.clear();
  q.performed_by.clear();

  // [day 2, day 4); then each bound alone.
  q.from = Day(2);
  q.to = Day(4);
  EXPECT_THAT(QueryIds(q), ElementsAre("L-3", "L-2"));
  q.to = absl::InfiniteFuture();
  EXPECT_THAT(QueryIds(q), ElementsAre("L-4", "L-8", "L-7", "L-3", "L-2"));
  q.from = absl::InfinitePast();
  q.to = Day(2);
  EXPECT_THAT(QueryIds(q), ElementsAre("L-1"));
}

TEST_P(LabStoreQueryTest, CurrentVersionsOnly) {
  // Corrected: L-2 no longer carries 2160-0.
  ASSERT_OK(Write(Row("lab9", "L-2", "h1", "P-1", 2, {"2345-7"}, "for h1, corrected")));
  ReportQuery q = QueryFor("h1");
  q.loinc_codes = {"2160-0"};
  EXPECT_THAT(QueryIds(q), ElementsAre("L-4"));
  q.loinc_codes = {"2345-7"};
  auto got = store_->Query(q, nullptr);
  ASSERT_OK(got);
  ASSERT_THAT(Ids(*got), ElementsAre("L-8", "L-2", "L-1"));
  EXPECT_EQ(got->at(1).version, 2);
  EXPECT_EQ(got->at(1).row.body, "for h1, corrected");
}

TEST_P(LabStoreQueryTest, PagesWithCursorAndLimit) {
  ReportQuery q = QueryFor("h1");
  q.limit = 2;
  std::vector<std::vector<std::string>> pages;
  for (int i = 0; i < 5; ++i) {
    auto page = store_->Query(q, nullptr);
    ASSERT_OK(page);
    pages.push_back(Ids(*page));
    if (page->empty()) break;
    const ReportRow& last = page->back().row;
    q.after = Cursor{last.collected_at, last.organisation_id, last.local_id};
  }
  EXPECT_THAT(pages, ElementsAre(ElementsAre("L-4", "L-8"), ElementsAre("L-7", "L-3"),
                                 ElementsAre("L-2", "L-1"), IsEmpty()));
  // The cursor combines with the filters.
  q.after = Cursor{Day(4), "h2", "L-8"};
  q.limit = 100;
  q.performed_by = {"h2"};
  EXPECT_THAT(QueryIds(q), ElementsAre("L-7", "L-3"));

  q.limit = 0;
  EXPECT_THAT(QueryIds(q), IsEmpty());
  q.limit = -1;
  EXPECT_THAT(store_->Query(q, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(LabStoreQueryTest, EventsAppendedWithTheRead) {
  size_t returned = 0;
  auto audit = [&](const std::vector<StoredReport>& r)
      -> absl::StatusOr<std::vector<outbox::PendingEvent>> {
    returned = r.size();
    return std::vector<outbox::PendingEvent>{Event("access.recorded"), Event("result.reused")};
  };
  ReportQuery q = QueryFor("h1");
  q.include_other_institutions = false;
  auto got = store_->Query(q, audit);
  ASSERT_OK(got);
  EXPECT_EQ(returned, 2u);
  EXPECT_THAT(Appended(), ElementsAre("access.recorded", "result.reused"));

  // Events that cannot be built fail the read.
  EXPECT_THAT(store_->Query(q,
                            [](const auto&) -> absl::StatusOr<std::vector<outbox::PendingEvent>> {
                              return absl::InternalError("audit down");
                            })
                  .status(),
              StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(Appended(), ElementsAre("access.recorded", "result.reused"));
}

auto StoreName = [](const ::testing::TestParamInfo<StoreKind>& info) {
  return info.param == StoreKind::kInMemory ? "InMemory" : "Postgres";
};
INSTANTIATE_TEST_SUITE_P(Stores, LabStoreTest,
                         ::testing::Values(StoreKind::kInMemory, StoreKind::kPostgres), StoreName);
INSTANTIATE_TEST_SUITE_P(Stores, LabStoreQueryTest,
                         ::testing::Values(StoreKind::kInMemory, StoreKind::kPostgres), StoreName);

TEST(InMemoryLabStoreTest, FailWithFailsEveryCall) {
  InMemoryLabStore store;
  store.FailWith(absl::UnavailableError("down"));
  EXPECT_THAT(store.Write(Row("h1", "L-1", "h1", "P-1", 1, {}, "b"), nullptr).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store.Get("h1", "L-1").status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store.History("h1", "L-1").status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store.Query(ReportQuery(), nullptr).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  store.FailWith(absl::OkStatus());
  EXPECT_OK(store.Write(Row("h1", "L-1", "h1", "P-1", 1, {}, "b"), nullptr));
}

// Writers of different versions of one report (created by whichever comes
// first), each retrying on ABORTED: every write is a version, none is lost.
TEST(PgLabStoreTest, ConcurrentWritersLoseNoUpdate) {
  constexpr int kWriters = 8, kEach = 5;
  pg::testing::ScratchSchema schema("labs", kWriters);
  ASSERT_OK(pg::Migrate(schema.pool(), schema.name(), AllMigrations()));
  PgLabStore store(&schema.pool());
  std::atomic<int> created{0}, updated{0}, aborted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const ReportRow row =
            Row("lab9", "L-hot", "h1", "P-1", 1, {"2345-7"}, absl::StrCat("w", t, "-", i));
        std::vector<WriteResult> seen;
        absl::StatusOr<WriteResult> w;
        while (absl::IsAborted((w = store.Write(row, ReportedOrCorrected(&seen))).status())) {
          ++aborted;
        }
        if (!w.ok()) {
          ADD_FAILURE() << w.status();
        } else if (w->outcome == WriteOutcome::kCreated) {
          ++created;
        } else if (w->outcome == WriteOutcome::kUpdated) {
          ++updated;
        } else {
          ADD_FAILURE() << "a distinct body was taken as unchanged";
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(created.load() + updated.load(), kWriters * kEach);

  auto current = store.Get("lab9", "L-hot");
  ASSERT_OK(current);
  ASSERT_TRUE(current->has_value());
  EXPECT_EQ((*current)->version, updated.load() + 1);
  auto history = store.History("lab9", "L-hot");
  ASSERT_OK(history);
  ASSERT_EQ(static_cast<int>(history->size()), kWriters * kEach);
  std::set<std::string> bodies;
  for (size_t i = 0; i < history->size(); ++i) {
    EXPECT_EQ(history->at(i).version, static_cast<int64_t>(i + 1));
    bodies.insert(history->at(i).row.body);
  }
  EXPECT_EQ(static_cast<int>(bodies.size()), kWriters * kEach);  // every write, once
  // One event per version: none from attempts rolled back.
  auto events = schema.pool().Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT sum(events) FROM outbox")[0].as<int64_t>();
  });
  ASSERT_OK(events);
  EXPECT_EQ(*events, kWriters * kEach);
  RecordProperty("aborted_retries", aborted.load());
}

}  // namespace
}  // namespace meridian::labs
