// End to end across the running platform (tools/meridian up): two people
// registered with the real patient index; the regional laboratory reports
// for both; one refused sharing lab results. The de-identified stream (the
// real deid-stream service reading the real topics) carries the other's
// report, pseudonymised under the platform's key, with none of the
// identifiers that went in; the refused patient's report never appears.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/deid/deid.h"
#include "libs/timestamps/timestamps.h"
#include "meridian/labs/v1/events.pb.h"
#include "meridian/labs/v1/labs.grpc.pb.h"
#include "tests/e2e/e2e.h"

namespace meridian {
namespace {

namespace cv1 = ::meridian::consent::v1;
namespace lv1 = ::meridian::labs::v1;

class DeidStreamE2eTest : public e2e::PlatformTest {
 protected:
  void Report(const std::string& local_id, const std::string& patient) {
    lv1::LabReport r;
    r.set_local_id(local_id);
    r.set_patient_organisation_id("city-hosp-1");
    r.set_patient_local_id(patient);
    r.set_patient_sex(lv1::FEMALE);
    r.set_patient_birth_date(birth_);
    lv1::LabResult* k = r.add_results();
    k->set_loinc_code("2823-3");
    k->set_numeric(4.4);
    k->set_unit("mmol/L");
    k->set_status(lv1::FINAL);
    k->set_note("drawn by nurse " + family_ + given_);
    *k->mutable_collected_at() = timestamps::ToProto(absl::Now() - absl::Hours(3));
    *k->mutable_reported_at() = timestamps::ToProto(absl::Now() - absl::Hours(2));
    lv1::PushResult out;
    auto ctx = server::NewContext(absl::Seconds(10));
    grpc::Status s = e2e::StubAs<lv1::LabResults>("lab-results", "lab-regional")
                         ->PushReport(ctx.get(), r, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // The de-identified lab events whose patient is `pseudonym`.
  std::vector<events::v1::EventEnvelope> DeidReportsOf(const std::string& pseudonym, size_t want,
                                                       absl::Duration timeout) {
    return AwaitEvents(
        "meridian.deid.v1",
        [&](const events::v1::EventEnvelope& e) {
          lv1::ReportChanged c;
          return e.type() == "lab.reported" && e.payload().UnpackTo(&c) &&
                 c.report().patient_local_id() == pseudonym;
        },
        want, timeout);
  }
};

TEST_F(DeidStreamE2eTest, ConsentedEventsLeaveDeidentifiedRefusedOnesNever) {
  UseKafkaAs("privacy-auditor");  // the topic's ACLs admit no one else but analytics
  const std::string shared = "S-" + run_, refused = "R-" + run_;
  const std::string regional = Register("city-hosp-1", shared, given_, birth_);
  ASSERT_FALSE(regional.empty());
  // A second person: another birth date and resident ID, not linked.
  const std::string other_birth = absl::StrCat(2001 + rng_() % 20, "-11-1", rng_() % 9);
  const std::string refusing = Register("city-hosp-1", refused, "晓峰", other_birth);
  ASSERT_FALSE(refusing.empty());
  ASSERT_NE(refusing, regional);
  Directive(refusing, cv1::DENY, "", cv1::LABS);

  Report("DS-" + run_, shared);
  Report("DR-" + run_, refused);

  // The platform's own key and policy, to know the pseudonyms to look for.
  auto keys = deid::LoadKeys(server::testing::Env("MERIDIAN_DEID_KEYS"));
  ASSERT_TRUE(keys.ok()) << keys.status();
  auto policy = deid::LoadPolicy(server::testing::Env("MERIDIAN_ROOT") +
                                 "/deploy/deid/public_health.textproto");
  ASSERT_TRUE(policy.ok());
  auto guard = deid::Deidentifier::Create(*policy, *keys);
  ASSERT_TRUE(guard.ok());

  auto events = DeidReportsOf((*guard)->Pseudonym(shared), 1, absl::Seconds(60));
  ASSERT_EQ(events.size(), 1u);
  const std::string bytes = events[0].SerializeAsString();
  for (const std::string& raw : {shared, regional, family_, given_, birth_}) {
    EXPECT_THAT(bytes, ::testing::Not(::testing::HasSubstr(raw))) << raw;
  }
  EXPECT_EQ(events[0].regional_patient_id(), (*guard)->Pseudonym(regional));
  lv1::ReportChanged c;
  ASSERT_TRUE(events[0].payload().UnpackTo(&c));
  EXPECT_EQ(c.report().results(0).loinc_code(), "2823-3");
  EXPECT_EQ(c.report().results(0).numeric(), 4.4);
  EXPECT_TRUE(c.report().results(0).note().empty());  // free text never leaves
  EXPECT_FALSE(c.report().patient_birth_date().empty());  // an age band now
  EXPECT_NE(c.report().patient_birth_date(), birth_);

  // Both reports were pushed before the shared one came through; the
  // refused one is not there (nor does it come in the next seconds).
  EXPECT_TRUE(DeidReportsOf((*guard)->Pseudonym(refused), 1, absl::Seconds(5)).empty());
}

}  // namespace
}  // namespace meridian
