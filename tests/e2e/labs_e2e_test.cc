// End to end across the running platform (tools/meridian up): a person
// registered at a township health centre and a city hospital with the real
// patient index; the regional laboratory reports for the centre's order
// (one value critical); the city hospital finds the recent accredited
// result and reuses it instead of repeating the test, sees the series in
// canonical units, and the critical value and the reuse reach Kafka.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/timestamps/timestamps.h"
#include "meridian/labs/v1/events.pb.h"
#include "meridian/labs/v1/labs.grpc.pb.h"
#include "tests/e2e/e2e.h"

namespace meridian {
namespace {

namespace lv1 = ::meridian::labs::v1;

class LabsE2eTest : public e2e::PlatformTest {
 protected:
  std::unique_ptr<lv1::LabResults::Stub> Labs(const std::string& org) {
    return e2e::StubAs<lv1::LabResults>("lab-results", org);
  }

  static lv1::LabResult Numeric(const std::string& loinc, double value, const std::string& unit,
                                absl::Duration ago) {
    lv1::LabResult r;
    r.set_loinc_code(loinc);
    r.set_numeric(value);
    r.set_unit(unit);
    r.set_status(lv1::FINAL);
    *r.mutable_collected_at() = timestamps::ToProto(absl::Now() - ago);
    *r.mutable_reported_at() = timestamps::ToProto(absl::Now() - ago + absl::Hours(2));
    return r;
  }
};

TEST_F(LabsE2eTest, AnAccreditedResultIsReusedAcrossTheRegion) {
  const std::string t_patient = "T-" + run_, h_patient = "H-" + run_;
  const std::string regional = Register("thc-riverside", t_patient, given_, birth_);
  ASSERT_FALSE(regional.empty());
  ASSERT_EQ(Register("city-hosp-1", h_patient, given_, birth_), regional);

  // The regional laboratory's report for the centre: HbA1c 12 days ago and
  // glucose in mg/dL; the centre's own glucose in mmol/L a day ago, with a
  // critical potassium.
  lv1::LabReport lab;
  lab.set_local_id("LR-" + run_);
  lab.set_patient_organisation_id("thc-riverside");
  lab.set_patient_local_id(t_patient);
  lab.set_patient_sex(lv1::FEMALE);
  lab.set_patient_birth_date(birth_);
  lab.set_ordering_organisation_id("thc-riverside");
  *lab.add_results() = Numeric("4548-4", 7.2, "%", absl::Hours(24 * 12));
  *lab.add_results() = Numeric("2345-7", 144, "mg/dL", absl::Hours(24 * 12));
  lv1::PushResult pushed;
  auto ctx = server::NewContext(absl::Seconds(10));
  grpc::Status s = Labs("lab-regional")->PushReport(ctx.get(), lab, &pushed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(pushed.outcome(), lv1::CREATED);
  lv1::LabReport own;
  own.set_local_id("TR-" + run_);
  own.set_patient_organisation_id("thc-riverside");
  own.set_patient_local_id(t_patient);
  own.set_patient_sex(lv1::FEMALE);
  own.set_patient_birth_date(birth_);
  *own.add_results() = Numeric("2345-7", 9.4, "mmol/L", absl::Hours(24));
  *own.add_results() = Numeric("2823-3", 6.9, "mmol/L", absl::Hours(24));
  ctx = server::NewContext(absl::Seconds(10));
  s = Labs("thc-riverside")->PushReport(ctx.get(), own, &pushed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(pushed.critical(), 1);

  // The city hospital wants HbA1c and creatinine within 30 days: the
  // accredited HbA1c is reusable (once the links reached lab-results),
  // creatinine must be done.
  lv1::FindReusableResultsRequest find;
  find.set_regional_id(regional);
  find.add_loinc_codes("4548-4");
  find.add_loinc_codes("2160-0");
  find.set_max_age_hours(24 * 30);
  lv1::FindReusableResultsResponse found;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  do {
    ctx = server::NewContext(absl::Seconds(10));
    s = Labs("city-hosp-1")->FindReusableResults(ctx.get(), find, &found);
    if (s.ok() && found.results_size() == 1) break;
    absl::SleepFor(absl::Milliseconds(200));
  } while (absl::Now() < deadline);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(found.results_size(), 1) << found.DebugString();
  EXPECT_EQ(found.results(0).organisation_id(), "lab-regional");
  EXPECT_EQ(found.results(0).result().numeric(), 7.2);
  EXPECT_THAT(found.not_found(), ::testing::ElementsAre("2160-0"));

  // Glucose over time, both in mmol/L.
  lv1::GetSeriesRequest series;
  series.set_regional_id(regional);
  series.set_loinc_code("2345-7");
  lv1::GetSeriesResponse points;
  ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(Labs("city-hosp-1")->GetSeries(ctx.get(), series, &points).ok());
  EXPECT_EQ(points.unit(), "mmol/L");
  ASSERT_EQ(points.points_size(), 2);
  EXPECT_NEAR(points.points(0).value(), 7.99, 0.01);
  EXPECT_EQ(points.points(1).value(), 9.4);

  // The critical potassium and the reuse are events on Kafka.
  auto events = AwaitEvents(
      "meridian.labs.v1",
      [&](const auto& e) {
        // The critical value is keyed by the patient at the centre (its
        // regional ID is there only if the link had arrived at push time).
        return (e.type() == "lab.critical" && e.key() == "thc-riverside/" + t_patient) ||
               (e.type() == "lab.reused" && e.regional_patient_id() == regional);
      },
      2);
  std::vector<std::string> types;
  for (const auto& e : events) types.push_back(e.type());
  EXPECT_THAT(types, ::testing::UnorderedElementsAre("lab.critical", "lab.reused"));
  for (const auto& e : events) {
    if (e.type() != "lab.reused") continue;
    lv1::ResultReused reused;
    ASSERT_TRUE(e.payload().UnpackTo(&reused));
    EXPECT_EQ(reused.reusing_organisation_id(), "city-hosp-1");
    EXPECT_EQ(reused.loinc_code(), "4548-4");
  }
}

}  // namespace
}  // namespace meridian
