// PatientIndex logic over the in-memory store.
#include "services/patient-index/patient_index.h"

#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"
#include "meridian/patient/v1/events.pb.h"
#include "services/patient-index/in_memory_patient_store.h"
#include "services/patient-index/term_frequency_refresher.h"
#include "services/patient-index/test_util.h"
#include "services/patient-index/text.h"

namespace meridian::patient {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::AddId;
using testing::Person;
using testing::ResidentIdFor;

class PatientIndexTest : public ::testing::Test {
 protected:
  PatientIndexTest()
      : index_(&store_, &model_, PatientIndexOptions{.today = "20261204"}) {}

  std::vector<std::string> EventTypes() {
    std::vector<std::string> out;
    for (const EmittedEvent& e : store_.events()) out.push_back(e.header.type);
    return out;
  }

  InMemoryPatientStore store_;
  Model model_;
  PatientIndex index_;
};

TEST_F(PatientIndexTest, NewPatientGetsAnIdentityAndEvents) {
  ASSERT_OK_AND_ASSIGN(auto r, index_.Register("city-hosp-1",
                                               Person("A1", "张", "伟", "1980-01-02",
                                                      "13912345678")));
  EXPECT_EQ(r.decision(), v1::NEW_IDENTITY);
  EXPECT_EQ(r.regional_id().size(), 36u);
  EXPECT_THAT(EventTypes(), ::testing::ElementsAre("patient.registered", "patient.linked"));
  for (const EmittedEvent& e : store_.events()) {
    EXPECT_EQ(e.header.key, r.regional_id());
    EXPECT_EQ(e.header.topic, "meridian.patient.v1");
    // Events carry no names, phone numbers or address lines.
    EXPECT_THAT(e.payload, AllOf(Not(HasSubstr("张")), Not(HasSubstr("13912345678")),
                                 Not(HasSubstr("幸福路"))));
  }
  // The registration carries the profile population statistics need.
  v1::PatientRegistered registered;
  ASSERT_TRUE(registered.ParseFromString(store_.events()[0].payload));
  EXPECT_EQ(registered.profile().birth_date(), "1980-01-02");
  EXPECT_EQ(registered.profile().district_code(), "330102");
}

TEST_F(PatientIndexTest, SameRequestAgainIsIdempotent) {
  auto req = Person("A1", "张", "伟", "1980-01-02", "13800138000");
  ASSERT_OK_AND_ASSIGN(auto first, index_.Register("city-hosp-1", req));
  size_t events = store_.events().size();
  ASSERT_OK_AND_ASSIGN(auto again, index_.Register("city-hosp-1", req));
  EXPECT_EQ(again.regional_id(), first.regional_id());
  EXPECT_EQ(again.decision(), first.decision());
  EXPECT_TRUE(again.unchanged());
  EXPECT_EQ(store_.events().size(), events);
}

TEST_F(PatientIndexTest, SameResidentIdLinksDeterministically) {
  auto a = Person("A1", "张", "伟", "1980-01-02", "", v1::SEX_MALE);
  AddId(&a, v1::RESIDENT_ID, ResidentIdFor("19800102", 1));
  auto b = Person("B7", "章", "玮", "1980-01-02", "", v1::SEX_MALE);  // typos
  AddId(&b, v1::RESIDENT_ID, ResidentIdFor("19800102", 1));
  ASSERT_OK_AND_ASSIGN(auto ra, index_.Register("city-hosp-1", a));
  ASSERT_OK_AND_ASSIGN(auto rb, index_.Register("county-hosp-east", b));
  EXPECT_EQ(rb.decision(), v1::MATCHED_DETERMINISTICALLY);
  EXPECT_EQ(rb.regional_id(), ra.regional_id());
  ASSERT_OK_AND_ASSIGN(auto x, index_.GetCrossReferences("city-hosp-1", [] {
    v1::GetCrossReferencesRequest q;
    q.set_local_id("A1");
    return q;
  }()));
  EXPECT_EQ(x.regional_id(), ra.regional_id());
  ASSERT_EQ(x.references_size(), 1);
  EXPECT_EQ(x.references(0).organisation_id(), "county-hosp-east");
  EXPECT_EQ(x.references(0).local_id(), "B7");
}

TEST_F(PatientIndexTest, HomophoneNameWithSameBirthDateAndPhoneAutoLinks) {
  ASSERT_OK_AND_ASSIGN(auto a, index_.Register("city-hosp-1",
                                               Person("A1", "陈", "丽", "1975-03-07", "13912345678")));
  ASSERT_OK_AND_ASSIGN(auto b, index_.Register("thc-riverside",
                                               Person("T9", "陈", "莉", "1975-07-03", "13912345678")));
  EXPECT_EQ(b.decision(), v1::AUTO_LINKED);
  EXPECT_EQ(b.regional_id(), a.regional_id());
  EXPECT_GT(b.probability(), 0.99);
  bool explained = false;
  for (const auto& f : b.fields()) {
    if (f.field() == "given_name") {
      EXPECT_EQ(f.level(), "same pinyin or very close");
      explained = true;
    }
  }
  EXPECT_TRUE(explained);
}

TEST_F(PatientIndexTest, TwinsAreNotAutoLinkedButReviewed) {
  ASSERT_OK_AND_ASSIGN(auto a, index_.Register("city-hosp-1",
                                               Person("A1", "李", "明", "2015-05-05", "13800000001")));
  ASSERT_OK_AND_ASSIGN(auto b, index_.Register("city-hosp-1",
                                               Person("A2", "李", "强", "2015-05-05", "13800000001")));
  EXPECT_EQ(b.decision(), v1::NEW_IDENTITY_WITH_REVIEW);
  EXPECT_NE(b.regional_id(), a.regional_id());
  EXPECT_FALSE(b.review_task_id().empty());
  EXPECT_EQ(store_.review_tasks(), 1);
  EXPECT_THAT(EventTypes(), ::testing::Contains("patient.review_created"));
}

TEST_F(PatientIndexTest, ReviewLinkMovesTheRecord) {
  ASSERT_OK_AND_ASSIGN(auto a, index_.Register("city-hosp-1",
                                               Person("A1", "李", "明", "2015-05-05", "13800000001")));
  ASSERT_OK_AND_ASSIGN(auto b, index_.Register("thc-riverside",
                                               Person("T1", "李", "强", "2015-05-05", "13800000001")));
  ASSERT_EQ(b.decision(), v1::NEW_IDENTITY_WITH_REVIEW);
  ASSERT_OK_AND_ASSIGN(auto tasks, index_.ListReviewTasks({}));
  ASSERT_EQ(tasks.tasks_size(), 1);
  EXPECT_EQ(tasks.tasks(0).id(), b.review_task_id());
  EXPECT_EQ(tasks.tasks(0).record().local_id(), "T1");
  EXPECT_EQ(tasks.tasks(0).candidate().local_id(), "A1");

  v1::ResolveReviewTaskRequest resolve;
  resolve.set_review_task_id(b.review_task_id());
  resolve.set_resolution(v1::LINK);
  EXPECT_THAT(index_.ResolveReviewTask("meridian-ops", resolve),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reason")));
  resolve.set_reason("same child: nickname at the health centre");
  ASSERT_OK_AND_ASSIGN(auto resolved, index_.ResolveReviewTask("meridian-ops", resolve));
  EXPECT_EQ(resolved.regional_id(), a.regional_id());
  ASSERT_OK_AND_ASSIGN(auto p, index_.GetPatient(a.regional_id()));
  EXPECT_EQ(p.sources_size(), 2);
  // The identity the record left redirects to the one it joined.
  ASSERT_OK_AND_ASSIGN(auto emptied, index_.GetPatient(b.regional_id()));
  EXPECT_EQ(emptied.regional_id(), a.regional_id());
  EXPECT_EQ(emptied.sources_size(), 2);
  EXPECT_EQ(index_.ListReviewTasks({})->tasks_size(), 0);
  EXPECT_THAT(index_.ResolveReviewTask("meridian-ops", resolve),
              StatusIs(absl::StatusCode::kNotFound));  // closed
  EXPECT_THAT(EventTypes(), ::testing::Contains("patient.review_resolved"));
}

TEST_F(PatientIndexTest, KeptApartPairIsNeverAutoLinkedAgain) {
  ASSERT_OK_AND_ASSIGN(auto a, index_.Register("city-hosp-1",
                                               Person("A1", "李", "明", "2015-05-05", "13800000001")));
  ASSERT_OK_AND_ASSIGN(auto b, index_.Register("city-hosp-1",
                                               Person("A2", "李", "强", "2015-05-05", "13800000001")));
  ASSERT_EQ(b.decision(), v1::NEW_IDENTITY_WITH_REVIEW);
  v1::ResolveReviewTaskRequest resolve;
  resolve.set_review_task_id(b.review_task_id());
  resolve.set_resolution(v1::KEEP_APART);
  resolve.set_reason("twins: checked with the parents");
  ASSERT_OK_AND_ASSIGN(auto resolved, index_.ResolveReviewTask("meridian-ops", resolve));
  EXPECT_EQ(resolved.regional_id(), b.regional_id());
  // A2 is later re-registered with a clerk's typo that makes it look exactly
  // like A1: it would auto-link, but the pair is kept apart.
  ASSERT_OK_AND_ASSIGN(auto again, index_.Register("city-hosp-1",
                                                   Person("A2", "李", "明", "2015-05-05", "13800000001")));
  EXPECT_NE(again.decision(), v1::AUTO_LINKED);
  EXPECT_NE(again.regional_id(), a.regional_id());
}

TEST_F(PatientIndexTest, MergeThenUnmergeRestoresEveryRecord) {
  ASSERT_OK_AND_ASSIGN(auto a, index_.Register("city-hosp-1",
                                               Person("A1", "何", "军", "1966-06-06", "13300000001")));
  ASSERT_OK_AND_ASSIGN(auto a2, index_.Register("thc-riverside",
                                                Person("T1", "何", "军", "1966-06-06", "13300000001")));
  ASSERT_EQ(a2.regional_id(), a.regional_id());
  ASSERT_OK_AND_ASSIGN(auto b, index_.Register("county-hosp-east",
                                               Person("E1", "何", "君", "1969-02-16", "")));
  ASSERT_NE(b.regional_id(), a.regional_id());

  v1::MergePatientsRequest m;
  m.set_from_regional_id(a.regional_id());
  m.set_into_regional_id(b.regional_id());
  EXPECT_THAT(index_.Merge("meridian-ops", m),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reason")));
  m.set_reason("same man: birth month mistyped at the county hospital");
  ASSERT_OK_AND_ASSIGN(auto merged, index_.Merge("meridian-ops", m));
  EXPECT_EQ(merged.records_moved(), 2);
  ASSERT_OK_AND_ASSIGN(auto p, index_.GetPatient(b.regional_id()));
  EXPECT_EQ(p.sources_size(), 3);
  // The retired identity redirects.
  ASSERT_OK_AND_ASSIGN(auto redirected, index_.GetPatient(a.regional_id()));
  EXPECT_EQ(redirected.regional_id(), b.regional_id());
  EXPECT_THAT(index_.Merge("meridian-ops", m),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  v1::UnmergePatientsRequest u;
  u.set_merge_id(merged.merge_id());
  u.set_reason("the county record is his brother after all");
  ASSERT_OK_AND_ASSIGN(auto unmerged, index_.Unmerge("meridian-ops", u));
  EXPECT_EQ(unmerged.regional_id(), a.regional_id());
  EXPECT_EQ(unmerged.records_moved(), 2);
  ASSERT_OK_AND_ASSIGN(auto back, index_.GetPatient(a.regional_id()));
  EXPECT_EQ(back.regional_id(), a.regional_id());
  EXPECT_EQ(back.sources_size(), 2);
  ASSERT_OK_AND_ASSIGN(auto other, index_.GetPatient(b.regional_id()));
  EXPECT_EQ(other.sources_size(), 1);
  EXPECT_THAT(index_.Unmerge("meridian-ops", u), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(EventTypes(), ::testing::IsSupersetOf({"patient.merged", "patient.unmerged"}));
}

TEST_F(PatientIndexTest, OperatorLinkSurvivesALaterUpdate) {
  ASSERT_OK_AND_ASSIGN(auto a, index_.Register("city-hosp-1",
                                               Person("A1", "李", "明", "2015-05-05", "13800000001")));
  ASSERT_OK_AND_ASSIGN(auto b, index_.Register("thc-riverside",
                                               Person("T1", "李", "强", "2015-05-05", "13800000001")));
  v1::ResolveReviewTaskRequest resolve;
  resolve.set_review_task_id(b.review_task_id());
  resolve.set_resolution(v1::LINK);
  resolve.set_reason("one child, two names");
  ASSERT_OK(index_.ResolveReviewTask("meridian-ops", resolve));
  // The centre updates the phone: the record stays where the operator put it
  // and no new review task asks the same question again.
  ASSERT_OK_AND_ASSIGN(auto updated, index_.Register("thc-riverside",
                                                     Person("T1", "李", "强", "2015-05-05", "13800000002")));
  EXPECT_EQ(updated.regional_id(), a.regional_id());
  EXPECT_TRUE(updated.review_task_id().empty());
  EXPECT_EQ(index_.ListReviewTasks({})->tasks_size(), 0);
}

TEST_F(PatientIndexTest, UpdateSupersedesOpenReviewTasks) {
  ASSERT_OK(index_.Register("city-hosp-1", Person("A1", "李", "明", "2015-05-05", "13800000001")));
  ASSERT_OK_AND_ASSIGN(auto b, index_.Register("city-hosp-1",
                                               Person("A2", "李", "强", "2015-05-05", "13800000001")));
  ASSERT_FALSE(b.review_task_id().empty());
  // A2 corrected to a clearly different child: the old question is moot.
  ASSERT_OK(index_.Register("city-hosp-1", Person("A2", "李", "强", "2012-01-20", "13900000000")));
  EXPECT_EQ(index_.ListReviewTasks({})->tasks_size(), 0);
}

TEST_F(PatientIndexTest, UnmergeAfterALaterMergeIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto a, index_.Register("city-hosp-1", Person("A1", "甲", "一", "1950-01-01")));
  ASSERT_OK_AND_ASSIGN(auto b, index_.Register("city-hosp-1", Person("A2", "乙", "二", "1960-02-02")));
  ASSERT_OK_AND_ASSIGN(auto c, index_.Register("city-hosp-1", Person("A3", "丙", "三", "1970-03-03")));
  v1::MergePatientsRequest m1;
  m1.set_from_regional_id(a.regional_id());
  m1.set_into_regional_id(b.regional_id());
  m1.set_reason("r");
  ASSERT_OK_AND_ASSIGN(auto merged1, index_.Merge("meridian-ops", m1));
  v1::MergePatientsRequest m2;
  m2.set_from_regional_id(b.regional_id());
  m2.set_into_regional_id(c.regional_id());
  m2.set_reason("r");
  ASSERT_OK(index_.Merge("meridian-ops", m2));
  v1::UnmergePatientsRequest u;
  u.set_merge_id(merged1.merge_id());
  u.set_reason("r");
  EXPECT_THAT(index_.Unmerge("meridian-ops", u),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("merged again")));
  // A registration matching a record of the first identity lands in the
  // live survivor, never in a retired identity.
  ASSERT_OK_AND_ASSIGN(auto again, index_.Register("thc-hillview", Person("H1", "甲", "一", "1950-01-01")));
  EXPECT_EQ(again.regional_id(), c.regional_id());
}

TEST_F(PatientIndexTest, UnlinkFixesAWrongLinkForGood) {
  ASSERT_OK_AND_ASSIGN(auto a, index_.Register("city-hosp-1",
                                               Person("A1", "王", "芳", "1990-10-10", "13700000000")));
  ASSERT_OK_AND_ASSIGN(auto b, index_.Register("county-hosp-west",
                                               Person("W1", "王", "芳", "1990-10-10", "13700000000")));
  ASSERT_EQ(b.regional_id(), a.regional_id());  // a namesake sharing a phone
  v1::UnlinkRecordRequest u;
  u.mutable_record()->set_organisation_id("county-hosp-west");
  u.mutable_record()->set_local_id("W1");
  EXPECT_THAT(index_.Unlink("meridian-ops", u),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reason")));
  u.set_reason("different women: checked at the county hospital");
  ASSERT_OK_AND_ASSIGN(auto out, index_.Unlink("meridian-ops", u));
  EXPECT_NE(out.regional_id(), a.regional_id());
  EXPECT_EQ(index_.GetPatient(a.regional_id())->sources_size(), 1);
  // Re-registered unchanged data does not link it back.
  ASSERT_OK_AND_ASSIGN(auto again, index_.Register("county-hosp-west",
                                                   Person("W1", "王", "芳", "1990-10-10", "13700000001")));
  EXPECT_EQ(again.regional_id(), out.regional_id());
  EXPECT_THAT(index_.Unlink("meridian-ops", u),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(PatientIndexTest, ChangedDemographicsRematch) {
  ASSERT_OK_AND_ASSIGN(auto a, index_.Register("city-hosp-1",
                                               Person("A1", "王", "芳", "1990-10-10", "13700000000")));
  // Registered first with a wrong birth date and phone: a separate person.
  ASSERT_OK_AND_ASSIGN(auto b, index_.Register("county-hosp-west",
                                               Person("W1", "王", "芳", "1960-01-01", "13011111111")));
  EXPECT_NE(b.regional_id(), a.regional_id());
  // Corrected: now the same person.
  ASSERT_OK_AND_ASSIGN(auto c, index_.Register("county-hosp-west",
                                               Person("W1", "王", "芳", "1990-10-10", "13700000000")));
  EXPECT_EQ(c.decision(), v1::AUTO_LINKED);
  EXPECT_EQ(c.regional_id(), a.regional_id());
  ASSERT_OK_AND_ASSIGN(auto patient, index_.GetPatient(a.regional_id()));
  EXPECT_EQ(patient.sources_size(), 2);
}

TEST_F(PatientIndexTest, GoldenRecordPrefersTrustedThenRecentSources) {
  PatientIndex ranked(&store_, &model_,
                      PatientIndexOptions{
                          .trust_rank = [](const std::string& org) {
                            return org == "city-hosp-1" ? 3 : 1;
                          },
                          .today = "20261204"});
  auto hospital = Person("A1", "赵", "敏", "1985-02-02", "13600000000");
  auto centre = Person("T1", "赵", "敏", "1985-02-02", "13600000000");
  centre.mutable_demographics()->set_name_pinyin("zhao min");
  centre.mutable_demographics()->mutable_address()->set_locality("河畔镇");
  ASSERT_OK_AND_ASSIGN(auto a, ranked.Register("city-hosp-1", hospital));
  ASSERT_OK_AND_ASSIGN(auto b, ranked.Register("thc-riverside", centre));
  ASSERT_EQ(a.regional_id(), b.regional_id());
  ASSERT_OK_AND_ASSIGN(auto p, ranked.GetPatient(a.regional_id()));
  EXPECT_EQ(p.golden().family_name(), "赵");
  EXPECT_EQ(p.golden().name_pinyin(), "zhao min");  // only the centre had it
  EXPECT_EQ(p.golden().address().locality(), "河畔镇");  // most complete
}

TEST_F(PatientIndexTest, SearchNeedsEnoughCriteriaAndRanks) {
  ASSERT_OK(index_.Register("city-hosp-1", Person("A1", "孙", "悦", "2001-06-01", "13500000000")));
  v1::SearchPatientsRequest q;
  q.mutable_demographics()->set_family_name("孙");
  EXPECT_THAT(index_.Search(q), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("demographics")));
  q.mutable_demographics()->set_given_name("悦");
  q.mutable_demographics()->set_birth_date("2001-06-01");
  ASSERT_OK_AND_ASSIGN(auto found, index_.Search(q));
  ASSERT_EQ(found.candidates_size(), 1);
  EXPECT_EQ(found.candidates(0).golden().given_name(), "悦");
  v1::SearchPatientsRequest by_phone;
  by_phone.mutable_demographics()->set_phone("13500000000");
  ASSERT_OK_AND_ASSIGN(auto by_phone_found, index_.Search(by_phone));
  EXPECT_EQ(by_phone_found.candidates_size(), 1);
}

// A registration is matched against the newest few records of each key; a
// search looks wider, since it may be after an older record.
TEST_F(PatientIndexTest, SearchLooksWiderThanMatching) {
  PatientIndexOptions narrow{.today = "20261204"};
  narrow.match.max_candidates_per_key = 1;
  narrow.match.wide_candidates_per_key = 50;
  PatientIndex index(&store_, &model_, narrow);
  // Three people of one name and birth date, kept apart by their different
  // valid resident IDs: three identities sharing every name and date key.
  for (int seq : {1, 3, 5}) {
    auto p = Person(absl::StrCat("S", seq), "孙", "悦", "2001-06-01", "", v1::SEX_MALE);
    AddId(&p, v1::RESIDENT_ID, ResidentIdFor("20010601", seq));
    ASSERT_OK(index.Register("city-hosp-1", p));
  }
  v1::SearchPatientsRequest q;
  q.mutable_demographics()->set_family_name("孙");
  q.mutable_demographics()->set_given_name("悦");
  q.mutable_demographics()->set_birth_date("2001-06-01");
  q.set_min_probability(0.01);
  ASSERT_OK_AND_ASSIGN(auto found, index.Search(q));
  EXPECT_EQ(found.candidates_size(), 3);
}

struct BadCase {
  const char* name;
  std::function<void(v1::RegisterPatientRequest*)> mutate;
  const char* field;
};

TEST_F(PatientIndexTest, BadInputIsRejectedNamingTheFieldAndStoresNothing) {
  const std::string secret_name = "秘密名字";
  const std::vector<BadCase> cases = {
      {"missing local id", [](auto* r) { r->clear_local_id(); }, "local_id"},
      {"malformed local id", [](auto* r) { r->set_local_id("a b;DROP"); }, "local_id"},
      {"bad check character",
       [](auto* r) {
         std::string id = ResidentIdFor("19800102", 1);
         id[17] = id[17] == '1' ? '2' : '1';
         AddId(r, v1::RESIDENT_ID, id);
       },
       "identifiers[0].value"},
      {"future birth date",
       [](auto* r) { r->mutable_demographics()->set_birth_date("2099-01-01"); },
       "demographics.birth_date"},
      {"impossible birth date",
       [](auto* r) { r->mutable_demographics()->set_birth_date("1980-02-30"); },
       "demographics.birth_date"},
      {"control characters",
       [&](auto* r) { r->mutable_demographics()->set_given_name(secret_name + "\x07"); },
       "demographics.given_name"},
      {"10 MB name",
       [](auto* r) {
         r->mutable_demographics()->set_family_name(std::string(10 << 20, 'x'));
       },
       "demographics.family_name"},
      {"unknown identifier type",
       [](auto* r) {
         auto* id = r->add_identifiers();
         id->set_type(static_cast<v1::IdentifierType>(42));
         id->set_value("123");
       },
       "identifiers[0].type"},
      {"resident id contradicts birth date",
       [](auto* r) { AddId(r, v1::RESIDENT_ID, ResidentIdFor("19700101", 1)); },
       "identifiers[0].value"},
      {"resident id contradicts sex",
       [](auto* r) {
         r->mutable_demographics()->set_sex(v1::SEX_MALE);
         AddId(r, v1::RESIDENT_ID, ResidentIdFor("19800102", 2));  // even: female
       },
       "identifiers[0].value"},
      {"two different resident ids",
       [](auto* r) {
         AddId(r, v1::RESIDENT_ID, ResidentIdFor("19800102", 2));
         AddId(r, v1::RESIDENT_ID, ResidentIdFor("19800102", 4));
       },
       "identifiers[1].value"},
      {"division code ending in X",
       [](auto* r) {
         r->mutable_demographics()->mutable_address()->set_district_code("33010X");
       },
       "demographics.address.district_code"},
  };
  for (const BadCase& c : cases) {
    auto req = Person("A1", "周", secret_name, "1980-01-02");
    c.mutate(&req);
    absl::StatusOr<v1::RegisterPatientResponse> r = index_.Register("city-hosp-1", req);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument,
                            AllOf(HasSubstr(c.field), Not(HasSubstr(secret_name)),
                                  Not(HasSubstr("19800102")))))
        << c.name;
  }
  EXPECT_TRUE(store_.events().empty());
  auto none = store_.FindSource("city-hosp-1", "A1");
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
}

// Registrations that arrive together commit together; one the store refuses
// fails alone; the same person registered at the same moment by two
// institutions still ends up with one identity.
TEST_F(PatientIndexTest, ConcurrentRegistrationsCommitInGroupsAndAFailureStaysAlone) {
  std::atomic<int> largest_group{0};
  store_.set_save_hook([&](const std::vector<StoredRecord*>& records) -> absl::Status {
    int seen = largest_group.load();
    const int n = static_cast<int>(records.size());
    while (n > seen && !largest_group.compare_exchange_weak(seen, n)) {
    }
    absl::SleepFor(absl::Milliseconds(3));  // a transaction's time: others queue
    for (const StoredRecord* r : records) {
      if (r->local_id == "POISON") return absl::InternalError("the store refused it");
    }
    return absl::OkStatus();
  });
  const std::vector<std::string> families = {"赵", "钱", "孙", "李", "周", "吴",
                                             "郑", "王", "冯", "陈", "褚", "卫"};
  constexpr int kThreads = 12;
  std::vector<absl::StatusOr<v1::RegisterPatientResponse>> results(
      kThreads, absl::UnknownError("not run"));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      v1::RegisterPatientRequest req;
      std::string org = "city-hosp-1";
      if (t < 2) {
        // The same person, at two institutions.
        req = Person("TWO-" + std::to_string(t), "林", "美", "1990-03-04", "13500000000");
        AddId(&req, v1::RESIDENT_ID, ResidentIdFor("19900304", 4));
        org = t == 0 ? "city-hosp-1" : "county-hosp-east";
      } else {
        req = Person(t == 5 ? "POISON" : "G" + std::to_string(t), families[t], "一",
                     absl::StrCat(1950 + t, "-0", 1 + t % 9, "-1", t % 10),
                     absl::StrCat("1390000000", t % 10));
      }
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < 20 && t >= 2; ++i) std::this_thread::yield();
      results[t] = index_.Register(org, req);
    });
  }
  for (std::thread& t : threads) t.join();

  EXPECT_GT(largest_group.load(), 1);
  for (int t = 0; t < kThreads; ++t) {
    if (t == 5) {
      EXPECT_THAT(results[t], StatusIs(absl::StatusCode::kInternal));
    } else {
      EXPECT_OK(results[t]) << t;
    }
  }
  ASSERT_OK(results[0]);
  ASSERT_OK(results[1]);
  EXPECT_EQ(results[0]->regional_id(), results[1]->regional_id());
  EXPECT_THAT((std::vector<v1::MatchDecision>{results[0]->decision(), results[1]->decision()}),
              ::testing::UnorderedElementsAre(v1::NEW_IDENTITY, v1::MATCHED_DETERMINISTICALLY));
  auto poison = store_.FindSource("city-hosp-1", "POISON");
  ASSERT_OK(poison);
  EXPECT_FALSE(poison->has_value());
  std::set<std::string> identities;
  for (int t = 0; t < kThreads; ++t) {
    if (t == 5) continue;
    auto stored = store_.FindSource(t == 1 ? "county-hosp-east" : "city-hosp-1",
                                    t < 2 ? "TWO-" + std::to_string(t) : "G" + std::to_string(t));
    ASSERT_OK(stored);
    ASSERT_TRUE(stored->has_value()) << t;
    EXPECT_EQ((*stored)->regional_id, results[t]->regional_id());
    identities.insert(results[t]->regional_id());
  }
  EXPECT_EQ(identities.size(), kThreads - 2u);  // the pair shares one
  // Each stored registration: registered, plus linked when it got an identity.
  EXPECT_EQ(store_.events().size(), 2u * (kThreads - 1));
}

TEST_F(PatientIndexTest, GetPatientValidatesTheId) {
  EXPECT_THAT(index_.GetPatient("not-an-id"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("regional_id")));
  EXPECT_THAT(index_.GetPatient("123e4567-e89b-42d3-a456-426614174000"),
              StatusIs(absl::StatusCode::kNotFound));
}

// The family name's weight in a registration's explanation.
double FamilyWeight(const v1::RegisterPatientResponse& r) {
  for (const auto& f : r.fields()) {
    if (f.field() == "family_name") return f.weight();
  }
  ADD_FAILURE() << "no family_name in the explanation";
  return 0;
}

// Term frequencies in which `family` is nearly everyone's family name.
TermFrequencies CommonFamily(const std::string& family) {
  TermFrequencies tf;
  tf.AddCount(kFamily, NormalizeName(family), 90000);
  tf.AddCount(kFamily, NormalizeName("欧阳"), 10000);
  return tf;
}

// A near-duplicate of 王芳 (one phone digit wrong) at another institution.
v1::RegisterPatientRequest WangFang(const std::string& local) {
  return Person(local, "王", "芳", "1990-04-05", local == "A1" ? "13912345678" : "13912345679");
}

TEST_F(PatientIndexTest, ASetModelWeighsTheNextRegistrations) {
  ASSERT_OK(index_.Register("city-hosp-1", WangFang("A1")).status());
  ASSERT_OK_AND_ASSIGN(auto before, index_.Register("thc-riverside", WangFang("T1")));
  auto model = std::make_shared<Model>(model_.parameters());
  model->set_term_frequencies(CommonFamily("王"));
  index_.SetModel(model);
  ASSERT_OK_AND_ASSIGN(auto after, index_.Register("county-hosp-east", WangFang("C1")));
  // A family name that nine in ten share says less than one of unknown
  // frequency.
  EXPECT_LT(FamilyWeight(after), FamilyWeight(before) - 1);
  EXPECT_LT(after.score(), before.score());
}

TEST_F(PatientIndexTest, NewTermFrequenciesKeepTheCurrentWeights) {
  // Weights unlike the defaults: a prior of one half instead of 0.01.
  ModelParameters params = Model::DefaultParameters();
  params.prior = 0.5;
  index_.SetModel(std::make_shared<Model>(params));
  ASSERT_OK(index_.Register("city-hosp-1", Person("X1", "王", "芳", "1990-04-05",
                                                  "13912345678")).status());
  ASSERT_OK_AND_ASSIGN(auto x, index_.Register("thc-riverside",
                                               Person("X2", "王", "芳", "1990-04-05",
                                                      "13912345679")));
  index_.SetTermFrequencies(TermFrequencies());  // none, as before
  ASSERT_OK(index_.Register("city-hosp-1", Person("Y1", "李", "娜", "1985-02-03",
                                                  "13711111111")).status());
  ASSERT_OK_AND_ASSIGN(auto y, index_.Register("thc-riverside",
                                               Person("Y2", "李", "娜", "1985-02-03",
                                                      "13711111112")));
  // The same agreement, the same weights: the same score (the defaults'
  // prior would take about 6.6 bits off).
  EXPECT_NEAR(y.score(), x.score(), 1e-9);
}

TEST_F(PatientIndexTest, TheRefresherInstallsWhatItLoadsAndKeepsTheModelOnAnError) {
  ASSERT_OK(index_.Register("city-hosp-1", WangFang("A1")).status());
  ASSERT_OK_AND_ASSIGN(auto before, index_.Register("thc-riverside", WangFang("T1")));
  bool fail = true;
  TermFrequencyRefresher refresher(
      &index_,
      [&]() -> absl::StatusOr<TermFrequencies> {
        if (fail) return absl::UnavailableError("database down");
        return CommonFamily("王");
      },
      absl::Hours(1));
  EXPECT_THAT(refresher.RefreshNow(), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_OK_AND_ASSIGN(auto kept, index_.Register("county-hosp-east", WangFang("C1")));
  EXPECT_DOUBLE_EQ(FamilyWeight(kept), FamilyWeight(before));
  fail = false;
  ASSERT_OK(refresher.RefreshNow());
  ASSERT_OK_AND_ASSIGN(auto after, index_.Register("pharm-east", WangFang("P1")));
  EXPECT_LT(FamilyWeight(after), FamilyWeight(before) - 1);
}

TEST_F(PatientIndexTest, TheRefresherReloadsOnItsIntervalUntilStopped) {
  absl::Mutex mu;
  int loads = 0, reports = 0;
  TermFrequencyRefresher refresher(
      &index_,
      [&]() -> absl::StatusOr<TermFrequencies> {
        absl::MutexLock lock(&mu);
        ++loads;
        return CommonFamily("王");
      },
      absl::Milliseconds(1), [&](const absl::Status& status) {
        EXPECT_OK(status);
        absl::MutexLock lock(&mu);
        ++reports;
      });
  refresher.Start();
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* n) { return *n >= 3; }, &reports));
  }
  refresher.Stop();
  int stopped_at = 0;
  {
    absl::MutexLock lock(&mu);
    stopped_at = loads;
  }
  EXPECT_GE(stopped_at, 3);
  absl::SleepFor(absl::Milliseconds(20));  // twenty intervals
  absl::MutexLock lock(&mu);
  EXPECT_EQ(loads, stopped_at);  // none after Stop returned
}

}  // namespace
}  // namespace meridian::patient
