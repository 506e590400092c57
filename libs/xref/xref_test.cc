// LinksFromEvent, and one contract for both stores (the PostgreSQL one against
// the real server, MERIDIAN_PG_URI).
#include "libs/xref/xref.h"

#include <memory>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "google/protobuf/util/time_util.h"
#include "libs/ids/uuid.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/testing.h"
#include "libs/status/status_matchers.h"
#include "meridian/patient/v1/events.pb.h"

namespace meridian::xref {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

events::v1::EventEnvelope Envelope(const std::string& type,
                                   const google::protobuf::Message& payload,
                                   int64_t micros = 1'700'000'000'000'000) {
  events::v1::EventEnvelope env;
  env.set_event_id(ids::NewUuid());
  env.set_type(type);
  *env.mutable_occurred_at() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(micros);
  env.mutable_payload()->PackFrom(payload);
  return env;
}

TEST(LinksFromEventTest, ReadsEveryLinkingEvent) {
  const std::string r1 = ids::NewUuid(), r2 = ids::NewUuid();
  patient::v1::PatientRegistered reg;
  reg.set_organisation_id("city-hosp-1");
  reg.set_local_id("MRN-1");
  reg.set_regional_id(r1);
  auto links = LinksFromEvent(Envelope("patient.registered", reg));
  ASSERT_OK(links);
  ASSERT_EQ(links->size(), 1u);
  EXPECT_EQ(links->at(0).local, (LocalId{"city-hosp-1", "MRN-1"}));
  EXPECT_EQ(links->at(0).regional_id, r1);
  EXPECT_EQ(links->at(0).as_of, absl::FromUnixMicros(1'700'000'000'000'000));

  patient::v1::PatientsMerged merged;
  merged.set_from_regional_id(r1);
  merged.set_into_regional_id(r2);
  auto* a = merged.add_records();
  a->set_organisation_id("city-hosp-1");
  a->set_local_id("MRN-1");
  auto* b = merged.add_records();
  b->set_organisation_id("thc-riverside");
  b->set_local_id("T-9");
  links = LinksFromEvent(Envelope("patient.merged", merged));
  ASSERT_OK(links);
  ASSERT_EQ(links->size(), 2u);
  EXPECT_EQ(links->at(1).local, (LocalId{"thc-riverside", "T-9"}));
  EXPECT_EQ(links->at(1).regional_id, r2);

  patient::v1::PatientsUnmerged unmerged;
  unmerged.set_restored_regional_id(r1);
  *unmerged.add_records() = *a;
  links = LinksFromEvent(Envelope("patient.unmerged", unmerged));
  ASSERT_OK(links);
  ASSERT_EQ(links->size(), 1u);
  EXPECT_EQ(links->at(0).regional_id, r1);

  patient::v1::ReviewTaskCreated review;
  links = LinksFromEvent(Envelope("patient.review_created", review));
  ASSERT_OK(links);
  EXPECT_THAT(*links, IsEmpty());
}

TEST(LinksFromEventTest, RejectsPayloadsThatDoNotParseOrLackIds) {
  patient::v1::PatientLinked linked;  // the wrong payload for "registered"
  patient::v1::ReviewTaskCreated wrong;
  EXPECT_THAT(LinksFromEvent(Envelope("patient.linked", wrong)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  linked.set_organisation_id("city-hosp-1");
  linked.set_local_id("MRN-1");
  linked.set_regional_id("not-a-uuid");
  EXPECT_THAT(LinksFromEvent(Envelope("patient.linked", linked)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

enum class Kind { kInMemory, kPostgres };

class XrefStoreTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kInMemory) {
      store_ = std::make_unique<InMemoryXrefStore>();
      return;
    }
    schema_ = std::make_unique<pg::testing::ScratchSchema>("xref");
    ASSERT_OK(pg::Migrate(schema_->pool(), schema_->name(),
                          {outbox::MigrationSet(), MigrationSet()}));
    store_ = std::make_unique<PgXrefStore>(&schema_->pool());
  }

  static Link At(const std::string& org, const std::string& local,
                 const std::string& regional, int seconds) {
    return {{org, local}, regional, absl::FromUnixSeconds(1'700'000'000 + seconds)};
  }

  std::unique_ptr<pg::testing::ScratchSchema> schema_;
  std::unique_ptr<XrefStore> store_;
};

TEST_P(XrefStoreTest, ResolvesBothWays) {
  const std::string r = ids::NewUuid();
  ASSERT_OK(store_->Apply("c", ids::NewUuid(),
                          {At("thc-riverside", "T-9", r, 1), At("city-hosp-1", "MRN-1", r, 1)}));
  auto locals = store_->LocalIdsOf(r);
  ASSERT_OK(locals);
  EXPECT_THAT(*locals, ElementsAre(LocalId{"city-hosp-1", "MRN-1"},
                                   LocalId{"thc-riverside", "T-9"}));
  EXPECT_EQ(*store_->RegionalIdOf({"city-hosp-1", "MRN-1"}), r);
  EXPECT_EQ(*store_->RegionalIdOf({"city-hosp-1", "MRN-2"}), "");
  EXPECT_THAT(*store_->LocalIdsOf(ids::NewUuid()), IsEmpty());
  EXPECT_THAT(*store_->LocalIdsOf("garbage"), IsEmpty());
  auto many = store_->RegionalIdsOf(
      {{"thc-riverside", "T-9"}, {"nobody", "x"}, {"city-hosp-1", "MRN-1"}});
  ASSERT_OK(many);
  EXPECT_THAT(*many, ElementsAre(r, "", r));
}

TEST_P(XrefStoreTest, MergeMovesRecordsAndALateOlderEventChangesNothing) {
  const std::string r1 = ids::NewUuid(), r2 = ids::NewUuid();
  ASSERT_OK(store_->Apply("c", ids::NewUuid(), {At("city-hosp-1", "MRN-1", r1, 1)}));
  ASSERT_OK(store_->Apply("c", ids::NewUuid(), {At("thc-riverside", "T-9", r2, 2)}));
  // Merge r1 into r2 at t=10.
  ASSERT_OK(store_->Apply("c", ids::NewUuid(), {At("city-hosp-1", "MRN-1", r2, 10)}));
  EXPECT_THAT(*store_->LocalIdsOf(r1), IsEmpty());
  EXPECT_EQ(store_->LocalIdsOf(r2)->size(), 2u);
  // A registration event from t=5 delivered late does not undo the merge.
  ASSERT_OK(store_->Apply("c", ids::NewUuid(), {At("city-hosp-1", "MRN-1", r1, 5)}));
  EXPECT_EQ(*store_->RegionalIdOf({"city-hosp-1", "MRN-1"}), r2);
  // Unmerge at t=20 restores it.
  ASSERT_OK(store_->Apply("c", ids::NewUuid(), {At("city-hosp-1", "MRN-1", r1, 20)}));
  EXPECT_EQ(*store_->RegionalIdOf({"city-hosp-1", "MRN-1"}), r1);
}

TEST_P(XrefStoreTest, AnEventIsAppliedOncePerConsumer) {
  const std::string r1 = ids::NewUuid(), r2 = ids::NewUuid();
  const std::string event = ids::NewUuid();
  auto first = store_->Apply("records", event, {At("city-hosp-1", "MRN-1", r1, 1)});
  ASSERT_OK(first);
  EXPECT_TRUE(*first);
  ASSERT_OK(store_->Apply("records", ids::NewUuid(), {At("city-hosp-1", "MRN-1", r2, 2)}));
  // Redelivery of the first event: not applied again (and its older time
  // would not win anyway); another consumer does apply it.
  auto again = store_->Apply("records", event, {At("city-hosp-1", "MRN-1", r1, 3)});
  ASSERT_OK(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(*store_->RegionalIdOf({"city-hosp-1", "MRN-1"}), r2);
  auto other = store_->Apply("labs", event, {At("city-hosp-1", "MRN-1", r1, 3)});
  ASSERT_OK(other);
  EXPECT_TRUE(*other);
}

TEST_P(XrefStoreTest, ABatchAppliesInOrderSkippingWhatWasApplied) {
  const std::string r1 = ids::NewUuid(), r2 = ids::NewUuid();
  const std::string seen = ids::NewUuid();
  ASSERT_OK(store_->Apply("c", seen, {At("h", "P", r1, 1)}));
  auto applied = store_->ApplyAll(
      "c", {{ids::NewUuid(), {At("h", "Q", r1, 2)}},
            {seen, {At("h", "P", r2, 50)}},  // redelivered: skipped
            {ids::NewUuid(), {At("h", "Q", r2, 3)}}});
  ASSERT_OK(applied);
  EXPECT_EQ(*applied, 2);
  EXPECT_EQ(*store_->RegionalIdOf({"h", "P"}), r1);
  EXPECT_EQ(*store_->RegionalIdOf({"h", "Q"}), r2);
  // An upper-case event ID is the same event, and a new one is applied;
  // an event twice in one batch counts once.
  const std::string upper = absl::AsciiStrToUpper(ids::NewUuid());
  applied = store_->ApplyAll("c", {{absl::AsciiStrToUpper(seen), {At("h", "P", r2, 60)}},
                                   {upper, {At("h", "R", r1, 4)}},
                                   {upper, {At("h", "R", r2, 5)}}});
  ASSERT_OK(applied);
  EXPECT_EQ(*applied, 1);
  EXPECT_EQ(*store_->RegionalIdOf({"h", "P"}), r1);
  EXPECT_EQ(*store_->RegionalIdOf({"h", "R"}), r1);
  // The batch handler: one garbage message fails the whole batch (the
  // consumer then retries message by message) and applies nothing.
  kafka::BatchHandler batch = BatchEventHandler(store_.get(), "c");
  patient::v1::PatientLinked linked;
  linked.set_organisation_id("h");
  linked.set_local_id("Z");
  linked.set_regional_id(r1);
  std::vector<kafka::ConsumedMessage> messages(2);
  Envelope("patient.linked", linked).SerializeToString(&messages[0].value);
  messages[1].value = "garbage";
  EXPECT_THAT(batch(messages), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(*store_->RegionalIdOf({"h", "Z"}), "");
  messages.pop_back();
  ASSERT_OK(batch(messages));
  EXPECT_EQ(*store_->RegionalIdOf({"h", "Z"}), r1);
}

TEST_P(XrefStoreTest, HandlerAppliesEnvelopesAndRejectsGarbage) {
  kafka::Handler handler = EventHandler(store_.get(), "records");
  const std::string r = ids::NewUuid();
  patient::v1::PatientLinked linked;
  linked.set_organisation_id("lab-regional");
  linked.set_local_id("L-5");
  linked.set_regional_id(r);
  kafka::ConsumedMessage m;
  Envelope("patient.linked", linked).SerializeToString(&m.value);
  ASSERT_OK(handler(m));
  EXPECT_EQ(*store_->RegionalIdOf({"lab-regional", "L-5"}), r);
  m.value = "not an envelope";
  EXPECT_THAT(handler(m), StatusIs(absl::StatusCode::kInvalidArgument));
}

INSTANTIATE_TEST_SUITE_P(Stores, XrefStoreTest,
                         ::testing::Values(Kind::kInMemory, Kind::kPostgres),
                         [](const auto& info) {
                           return info.param == Kind::kInMemory ? "InMemory" : "Postgres";
                         });

}  // namespace
}  // namespace meridian::xref
