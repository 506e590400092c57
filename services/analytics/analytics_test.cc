// The analytics logic over a fake store.
#include "services/analytics/analytics.h"

#include <algorithm>
#include <map>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"
#include "meridian/labs/v1/events.pb.h"

namespace meridian::analytics {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;

class FakeStore : public AnalyticsStore {
 public:
  absl::StatusOr<bool> Apply(const std::string& event_id, const Extracted& x) override {
    if (!applied.emplace(event_id, x).second) return false;
    return true;
  }
  absl::StatusOr<std::vector<CellCount>> Count(const CountQuery& q) override {
    absl::MutexLock lock(&mu);  // nested queries come from other threads
    queries.push_back(q);
    if (std::find(q.group_by.begin(), q.group_by.end(), v1::FLAG) != q.group_by.end()) {
      return flagged[q.measure];
    }
    if (!q.group_by.empty()) {
      auto by = by_dimension.find(q.group_by[0]);
      if (by != by_dimension.end()) return by->second;
    }
    auto it = answers.find(q.measure);
    if (it == answers.end()) return std::vector<CellCount>{};
    return it->second;
  }
  absl::StatusOr<std::vector<Prevalence>> CountPatients(const std::string& condition,
                                                        v1::Dimension,
                                                        absl::CivilDay) override {
    conditions.push_back(condition);
    return prevalence;
  }
  absl::Mutex mu;
  std::map<std::string, Extracted> applied;
  std::vector<std::string> conditions;
  std::vector<Prevalence> prevalence;
  std::vector<CountQuery> queries;
  std::map<v1::Measure, std::vector<CellCount>> answers;
  std::map<v1::Dimension, std::vector<CellCount>> by_dimension;
  // For queries grouped by FLAG (among others, last): keys {period, ..., flag}.
  std::map<v1::Measure, std::vector<CellCount>> flagged;
};

orgs::Directory TestDirectory() {
  return *orgs::Directory::FromText(R"pb(
    organisation { id: "lab-1" name: "Lab" type: LAB district_code: "330106" }
    organisation { id: "hosp-1" name: "Hospital" type: TERTIARY_HOSPITAL district_code: "330102" }
  )pb");
}

kafka::ConsumedMessage LabMessage(const std::string& event_id) {
  labs::v1::ReportChanged r;
  r.set_organisation_id("lab-1");
  r.mutable_report()->add_results()->set_loinc_code("2345-7");
  events::v1::EventEnvelope env;
  env.set_event_id(event_id);
  env.set_type("lab.reported");
  env.set_regional_patient_id("pseudonym");
  env.mutable_occurred_at()->set_seconds(1772407800);
  env.mutable_payload()->PackFrom(r);
  return {"meridian.deid.v1", 0, 0, "pseudonym", env.SerializeAsString(), {}};
}

class AnalyticsTest : public ::testing::Test {
 protected:
  FakeStore store_;
  orgs::Directory directory_ = TestDirectory();
  Analytics logic_{&store_, &directory_};
};

TEST_F(AnalyticsTest, CountsEachEventOnceWithItsInstitutionsDistrictAndType) {
  const std::string id = "0b0e8f4e-8a55-4d8e-9a3b-3c1f4f6d2a10";
  ASSERT_OK(logic_.Handle(LabMessage(id)));
  ASSERT_OK(logic_.Handle(LabMessage(id)));  // redelivered
  EXPECT_EQ(logic_.counted(), 1);
  EXPECT_EQ(logic_.duplicates(), 1);
  const Fact& f = store_.applied.at(id).facts.at(0);
  EXPECT_EQ(f.district, "330106");
  EXPECT_EQ(f.institution_type, "lab");
  EXPECT_THAT(logic_.Handle({"meridian.deid.v1", 0, 7, "", "not an envelope", {}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(AnalyticsTest, RequestsAreValidatedFieldByField) {
  v1::QueryRequest ok;
  ok.set_measure(v1::ENCOUNTERS);
  ok.set_from_date("2026-01-01");
  ok.set_to_date("2026-12-31");
  ASSERT_OK(logic_.Query(ok));
  auto expect_field = [&](v1::QueryRequest r, const char* field) {
    EXPECT_THAT(logic_.Query(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(field)));
  };
  v1::QueryRequest r = ok;
  r.clear_measure();
  expect_field(r, "measure");
  r = ok;
  r.set_from_date("2026-02-30");
  expect_field(r, "from_date");
  r = ok;
  r.set_to_date("2025-12-31");
  expect_field(r, "to_date");
  r = ok;
  r.set_to_date("2040-01-01");
  expect_field(r, "to_date");
  r = ok;
  for (auto d : {v1::DISTRICT, v1::SEX, v1::CODE}) r.add_group_by(d);
  expect_field(r, "group_by");
  r = ok;
  r.add_group_by(v1::SEX);
  r.add_group_by(v1::SEX);
  expect_field(r, "group_by");
  r = ok;
  r.add_group_by(static_cast<v1::Dimension>(99));
  expect_field(r, "group_by");
  r = ok;
  auto* f = r.add_filters();
  f->set_dimension(v1::INSTITUTION);
  f->add_values(std::string(65, 'x'));
  expect_field(r, "filters.values");
  r = ok;
  r.set_limit(-1);
  expect_field(r, "limit");
  EXPECT_EQ(store_.queries.size(), 1u);  // none of the invalid ones reached the store
}

TEST_F(AnalyticsTest, SmallCellsAreSuppressedAndCountsCleared) {
  store_.answers[v1::ENCOUNTERS] = {{{"", "hosp-1"}, 40}, {{"", "hosp-2"}, 3},
                                    {{"", "hosp-3"}, 9}, {{"", "hosp-4"}, 25}};
  v1::QueryRequest q;
  q.set_measure(v1::ENCOUNTERS);
  q.add_group_by(v1::INSTITUTION);
  q.set_from_date("2026-01-01");
  q.set_to_date("2026-01-31");
  auto r = logic_.Query(q);
  ASSERT_OK(r);
  EXPECT_EQ(r->k(), 5);
  EXPECT_EQ(r->total(), 77);
  ASSERT_EQ(r->cells_size(), 4);
  // Largest first, suppressed last.
  EXPECT_EQ(r->cells(0).keys(0), "hosp-1");
  EXPECT_EQ(r->cells(0).count(), 40);
  EXPECT_EQ(r->cells(1).keys(0), "hosp-4");
  for (int i : {2, 3}) {
    EXPECT_TRUE(r->cells(i).suppressed());
    EXPECT_FALSE(r->cells(i).has_count());  // absent, not a zero
  }
  q.set_limit(1);
  EXPECT_EQ(logic_.Query(q)->cells_size(), 1);

  store_.answers[v1::ENCOUNTERS] = {{{"", "hosp-1"}, 3}};
  r = logic_.Query(q);
  EXPECT_TRUE(r->total_suppressed());
  EXPECT_EQ(r->total(), 0);
}

TEST_F(AnalyticsTest, RatesJoinTwoSuppressedCounts) {
  store_.answers[v1::PRESCRIPTIONS] = {{{"", "hosp-1"}, 100}, {{"", "hosp-2"}, 40},
                                       {{"", "hosp-3"}, 60}};
  store_.answers[v1::ENCOUNTERS] = {{{"", "hosp-1"}, 400}, {{"", "hosp-2"}, 80},
                                    {{"", "hosp-3"}, 3}};
  v1::IndicatorRequest q;
  q.set_indicator(v1::PRESCRIPTIONS_PER_100_ENCOUNTERS);
  q.add_group_by(v1::INSTITUTION);
  q.set_from_date("2026-01-01");
  q.set_to_date("2026-01-31");
  auto r = logic_.GetIndicator(q);
  ASSERT_OK(r);
  ASSERT_EQ(r->rates_size(), 3);
  EXPECT_EQ(r->rates(0).keys(0), "hosp-1");
  EXPECT_DOUBLE_EQ(r->rates(0).value(), 25.0);
  // hosp-3's 3 encounters are suppressed, and hosp-2's 80 with them as
  // complement: no rate may reveal them.
  for (int i : {1, 2}) {
    EXPECT_TRUE(r->rates(i).suppressed());
    EXPECT_FALSE(r->rates(i).has_denominator());
    EXPECT_EQ(r->rates(i).value(), 0);
  }
  EXPECT_EQ(r->rates(2).keys(0), "hosp-3");

  // The antibiotic share: the numerator is a filtered sum, so it comes from
  // the table by flag, suppressed over every flag first. hosp-2's 3
  // antibiotic prescriptions are small: its share is suppressed, though its
  // 40 prescriptions are not, and so is hosp-3's (the complement in the
  // antibiotic column).
  store_.flagged[v1::PRESCRIPTIONS] = {
      {{"", "hosp-1", "antibiotic"}, 20}, {{"", "hosp-1", "other"}, 80},
      {{"", "hosp-2", "antibiotic"}, 3},  {{"", "hosp-2", "other"}, 37},
      {{"", "hosp-3", "antibiotic"}, 12}, {{"", "hosp-3", "other"}, 48}};
  q.set_indicator(v1::ANTIBIOTIC_PRESCRIPTION_RATE);
  r = logic_.GetIndicator(q);
  ASSERT_OK(r);
  std::map<std::string, const v1::Rate*> by_institution;
  for (const v1::Rate& rate : r->rates()) by_institution[rate.keys(0)] = &rate;
  ASSERT_EQ(by_institution.size(), 3u);
  EXPECT_DOUBLE_EQ(by_institution["hosp-1"]->value(), 0.2);
  EXPECT_TRUE(by_institution["hosp-2"]->suppressed());
  EXPECT_TRUE(by_institution["hosp-3"]->suppressed());
  bool grouped_by_flag = false;
  for (const CountQuery& cq : store_.queries) {
    grouped_by_flag |= !cq.group_by.empty() && cq.group_by.back() == v1::FLAG;
    for (const auto& f : cq.filters) EXPECT_NE(f.first, v1::FLAG);  // never a filtered sum
  }
  EXPECT_TRUE(grouped_by_flag);
  q.clear_group_by();
  q.add_group_by(v1::FLAG);
  EXPECT_THAT(logic_.GetIndicator(q), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("group_by")));
}

TEST_F(AnalyticsTest, ADistrictHoldingOneSuppressedInstitutionIsSuppressed) {
  // Institutions: hosp-1 (district a) 30, hosp-2 (b) 12, thc-1 (b) 2,
  // thc-2 (c) 8; thc-1 and thc-2 are both township centres, so the 8 goes
  // with the 2 in their type's line, and the 12 with the 2 in district b.
  auto inst = [](const char* id, int64_t n, const char* district, const char* type) {
    return CellCount{{"", id}, n, false,
                     {{1, std::string("district:") + district},
                      {1, std::string("institution_type:") + type}}};
  };
  store_.by_dimension[v1::INSTITUTION] = {inst("hosp-1", 30, "a", "hospital"),
                                          inst("hosp-2", 12, "b", "hospital"),
                                          inst("thc-1", 2, "b", "township"),
                                          inst("thc-2", 8, "c", "township")};
  store_.by_dimension[v1::DISTRICT] = {{{"", "a"}, 30}, {{"", "b"}, 14}, {{"", "c"}, 8}};
  v1::QueryRequest q;
  q.set_measure(v1::ENCOUNTERS);
  q.add_group_by(v1::DISTRICT);
  q.set_from_date("2026-01-01");
  q.set_to_date("2026-12-31");
  auto r = logic_.Query(q);
  ASSERT_OK(r);
  std::map<std::string, bool> suppressed;
  for (const v1::Cell& c : r->cells()) suppressed[c.keys(0)] = c.suppressed();
  // Among institutions the 2 takes the 12 (district b) and the 8 (township
  // centres), and the 12 takes the 30 (hospitals). Districts a and c each
  // hold one of those alone, so they go; b holds two and stays: 14 tells
  // only their sum (otherwise a's 30 would give the 12, then b the 2).
  EXPECT_TRUE(suppressed["a"]);
  EXPECT_TRUE(suppressed["c"]);
  EXPECT_FALSE(suppressed["b"]);
  bool asked_by_institution = false;  // the finer query (from another thread)
  for (const CountQuery& cq : store_.queries) {
    asked_by_institution |= cq.group_by[0] == v1::INSTITUTION;
  }
  EXPECT_TRUE(asked_by_institution);
}

TEST_F(AnalyticsTest, AFilterCannotCarveASuppressedCellOutOfAPublishedOne) {
  // By institution: a 3 and b 40 are suppressed, c 100 is not, total 143.
  // Filtering to b and c would give 140, and 143 - 140 = a's 3.
  store_.by_dimension[v1::INSTITUTION] = {{{"", "a"}, 3}, {{"", "b"}, 40}, {{"", "c"}, 100}};
  v1::QueryRequest q;
  q.set_measure(v1::ENCOUNTERS);
  q.set_from_date("2026-01-01");
  q.set_to_date("2026-12-31");
  v1::Filter* f = q.add_filters();
  f->set_dimension(v1::INSTITUTION);
  f->add_values("b");
  f->add_values("c");
  auto r = logic_.Query(q);
  ASSERT_OK(r);
  ASSERT_EQ(r->cells_size(), 1);
  EXPECT_TRUE(r->cells(0).suppressed());
  EXPECT_TRUE(r->total_suppressed());
  EXPECT_EQ(r->total(), 0);
  // c alone holds no suppressed cell: published.
  f->clear_values();
  f->add_values("c");
  r = logic_.Query(q);
  ASSERT_OK(r);
  EXPECT_EQ(r->cells(0).count(), 100);
  EXPECT_EQ(r->total(), 100);
}

TEST_F(AnalyticsTest, OnlyWholeMonths) {
  v1::QueryRequest q;
  q.set_measure(v1::ENCOUNTERS);
  q.set_from_date("2026-01-02");
  q.set_to_date("2026-01-31");
  EXPECT_THAT(logic_.Query(q), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("from_date")));
  q.set_from_date("2026-01-01");
  q.set_to_date("2026-01-30");
  EXPECT_THAT(logic_.Query(q), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("to_date")));
  q.set_to_date("2028-02-29");  // a leap year's February ends on the 29th
  EXPECT_TRUE(logic_.Query(q).ok());
}

TEST_F(AnalyticsTest, PrevalenceAmongKnownPatientsIsSuppressedLikeAnyCount) {
  store_.prevalence = {{"female", 400, 60}, {"male", 380, 3}, {"unknown", 12, 0}};
  v1::IndicatorRequest q;
  q.set_indicator(v1::HYPERTENSION_PREVALENCE);
  q.add_group_by(v1::SEX);
  q.set_from_date("2026-01-01");
  q.set_to_date("2026-12-31");
  auto r = logic_.GetIndicator(q);
  ASSERT_OK(r);
  EXPECT_EQ(store_.conditions.back(), "hypertension");
  ASSERT_EQ(r->rates_size(), 3);
  EXPECT_EQ(r->rates(0).keys(0), "female");
  // 3 men with it is small; the 60 women go with them as the complement (a
  // zero would hide nothing).
  EXPECT_TRUE(r->rates(0).suppressed());
  EXPECT_TRUE(r->rates(1).suppressed());
  EXPECT_FALSE(r->rates(1).has_numerator());
  EXPECT_FALSE(r->rates(2).suppressed());
  EXPECT_EQ(r->rates(2).denominator(), 12);
  EXPECT_EQ(r->rates(2).value(), 0);
  q.set_indicator(v1::DIABETES_PREVALENCE);
  q.clear_group_by();
  q.add_group_by(v1::INSTITUTION);
  EXPECT_THAT(logic_.GetIndicator(q), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("group_by")));
  q.clear_group_by();
  q.set_period(v1::MONTH);
  EXPECT_THAT(logic_.GetIndicator(q), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("period")));
}

}  // namespace
}  // namespace meridian::analytics
