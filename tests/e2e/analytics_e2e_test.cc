// End to end across the running platform (tools/meridian up): the regional
// laboratory reports six results for a registered patient; they travel
// through lab-results' outbox, the clinical topic, the de-identified stream
// and reach the analytics service, whose answer to the health commission —
// over gRPC with its client certificate — counts them, as an aggregate only.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/timestamps/timestamps.h"
#include "meridian/analytics/v1/analytics.grpc.pb.h"
#include "meridian/labs/v1/labs.grpc.pb.h"
#include "tests/e2e/e2e.h"

namespace meridian {
namespace {

namespace av1 = ::meridian::analytics::v1;
namespace lv1 = ::meridian::labs::v1;

// Analytes with mmol/L as their canonical unit (reference data).
const std::vector<std::string> kCodes = {"2345-7", "1558-6", "2823-3",
                                         "2951-2", "2075-0", "3094-0"};

class AnalyticsE2eTest : public e2e::PlatformTest {
 protected:
  // The region's LAB_RESULTS in the months around today, as the health
  // commission sees them (the total: no filter, since a filtered sum that
  // takes in any small cell is suppressed); 0 when suppressed.
  int64_t Counted() {
    av1::QueryRequest q;
    q.set_measure(av1::LAB_RESULTS);
    // Whole months around today (the API takes whole months only).
    const absl::CivilMonth month = absl::ToCivilMonth(absl::Now(), absl::UTCTimeZone());
    q.set_from_date(absl::FormatCivilTime(absl::CivilDay(month - 1)));
    q.set_to_date(absl::FormatCivilTime(absl::CivilDay(month + 2) - 1));
    av1::QueryResponse out;
    auto ctx = server::NewContext(absl::Seconds(10));
    grpc::Status s = e2e::StubAs<av1::Analytics>("analytics", "health-commission")
                         ->Query(ctx.get(), q, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.total();
  }
};

TEST_F(AnalyticsE2eTest, LabResultsReachTheHealthCommissionsCountsOnlyAsAggregates) {
  const std::string patient = "A-" + run_;
  ASSERT_FALSE(Register("city-hosp-1", patient, given_, birth_).empty());
  const int64_t before = Counted();

  lv1::LabReport r;
  r.set_local_id("AN-" + run_);
  r.set_patient_organisation_id("city-hosp-1");
  r.set_patient_local_id(patient);
  r.set_patient_sex(lv1::FEMALE);
  r.set_patient_birth_date(birth_);
  for (const std::string& code : kCodes) {
    lv1::LabResult* k = r.add_results();
    k->set_loinc_code(code);
    k->set_numeric(4.4);
    k->set_unit("mmol/L");
    k->set_status(lv1::FINAL);
    *k->mutable_collected_at() = timestamps::ToProto(absl::Now() - absl::Hours(3));
    *k->mutable_reported_at() = timestamps::ToProto(absl::Now() - absl::Hours(2));
  }
  lv1::PushResult pushed;
  auto ctx = server::NewContext(absl::Seconds(10));
  grpc::Status s = e2e::StubAs<lv1::LabResults>("lab-results", "lab-regional")
                       ->PushReport(ctx.get(), r, &pushed);
  ASSERT_TRUE(s.ok()) << s.error_message();

  int64_t after = before;
  for (absl::Time deadline = absl::Now() + absl::Seconds(90);
       after < before + 6 && absl::Now() < deadline; absl::SleepFor(absl::Milliseconds(500))) {
    after = Counted();
  }
  EXPECT_GE(after, before + 6);

  // A hospital may not ask.
  av1::QueryRequest q;
  q.set_measure(av1::LAB_RESULTS);
  q.set_from_date("2026-01-01");
  q.set_to_date("2026-12-31");
  av1::QueryResponse out;
  auto hctx = server::NewContext(absl::Seconds(10));
  EXPECT_EQ(e2e::StubAs<av1::Analytics>("analytics", "city-hosp-1")->Query(hctx.get(), q, &out)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace meridian
