// End to end across the running platform (tools/meridian up): one person
// known to the region under two identities — registered at the city
// hospital and, with details too different to link, at the county hospital —
// has a prescription and a laboratory report under each. The operator merges
// the identities in the patient index: through its events on Kafka, both
// hospitals' prescriptions and both reports are found under the merged
// identity by the prescriptions and lab-results services; the unmerge puts
// each back under its own identity.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/timestamps/timestamps.h"
#include "meridian/labs/v1/labs.grpc.pb.h"
#include "meridian/prescriptions/v1/prescriptions.grpc.pb.h"
#include "tests/e2e/e2e.h"

namespace meridian {
namespace {

using ::testing::ElementsAre;
namespace lv1 = ::meridian::labs::v1;
namespace pv1 = ::meridian::patient::v1;
namespace xv1 = ::meridian::prescriptions::v1;

class JourneyE2eTest : public e2e::PlatformTest {
 protected:
  // A second identity of no one else: its own name, birth date, phone and
  // valid resident ID, too far from the first person's to be linked.
  std::string RegisterOtherIdentity(const std::string& org, const std::string& local_id) {
    static constexpr const char* kGiven[] = {"建华", "志强", "国庆", "永胜", "德明",
                                             "文博", "子轩", "浩然", "振宇", "鹏飞"};
    static constexpr const char* kFamily[] = {"司马", "诸葛", "上官", "东方", "皇甫",
                                              "尉迟", "公孙", "慕容", "令狐", "宇文"};
    const std::string birth = absl::StrCat(1900 + rng_() % 40, "-11-1", seq_ % 9);
    pv1::RegisterPatientRequest r = patient::testing::Person(
        local_id, kFamily[rng_() % 10], kGiven[rng_() % 10], birth,
        absl::StrCat("137", 10000000 + rng_() % 89999999), pv1::SEX_MALE);
    patient::testing::AddId(&r, pv1::RESIDENT_ID,
                            patient::testing::ResidentIdFor(
                                absl::StrCat(birth.substr(0, 4), "111", birth.substr(9, 1)),
                                seq_ + 1));
    pv1::RegisterPatientResponse out;
    auto ctx = server::NewContext(absl::Seconds(10));
    grpc::Status s = Index(org)->RegisterPatient(ctx.get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.regional_id();
  }

  void Prescribe(const std::string& org, const std::string& local_id,
                 const std::string& patient) {
    xv1::IssuePrescriptionRequest r;
    xv1::Prescription* p = r.mutable_prescription();
    p->set_local_id(local_id);
    p->set_patient_local_id(patient);
    p->set_prescriber("DR-JOURNEY");
    p->add_diagnosis_icd10("I10");
    *p->mutable_issued_at() = timestamps::ToProto(absl::Now() - absl::Minutes(5));
    xv1::PrescriptionItem* item = p->add_items();
    item->set_drug_code("C08CA01-T5");  // amlodipine 5 mg
    item->set_dose(5);
    item->set_dose_unit("mg");
    item->set_frequency(xv1::QD);
    item->set_route(xv1::ORAL);
    item->set_days(28);
    item->set_quantity(28);
    xv1::IssuePrescriptionResponse out;
    grpc::Status s = e2e::UntilLinked([&] {
      auto ctx = server::NewContext(absl::Seconds(10));
      return e2e::StubAs<xv1::Prescriptions>("prescriptions", org)
          ->IssuePrescription(ctx.get(), r, &out);
    });
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(out.outcome(), xv1::CREATED) << out.DebugString();
  }

  // `performer` reports a creatinine for `patient` of `patient_org`.
  void Report(const std::string& performer, const std::string& local_id,
              const std::string& patient_org, const std::string& patient) {
    lv1::LabReport lab;
    lab.set_local_id(local_id);
    lab.set_patient_organisation_id(patient_org);
    lab.set_patient_local_id(patient);
    lab.set_ordering_organisation_id(patient_org);
    lv1::LabResult* r = lab.add_results();
    r->set_loinc_code("2160-0");
    r->set_numeric(0.9);
    r->set_unit("mg/dL");
    r->set_status(lv1::FINAL);
    *r->mutable_collected_at() = timestamps::ToProto(absl::Now() - absl::Hours(3));
    *r->mutable_reported_at() = timestamps::ToProto(absl::Now() - absl::Hours(1));
    lv1::PushResult out;
    grpc::Status s = e2e::UntilLinked([&] {
      auto ctx = server::NewContext(absl::Seconds(10));
      return e2e::StubAs<lv1::LabResults>("lab-results", performer)->PushReport(ctx.get(), lab, &out);
    });
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Polls `read` (the services follow the index's events) until it finds
  // exactly `want`, or 60 s pass; what it found last.
  template <typename Read>
  std::vector<std::string> Until(std::vector<std::string> want, Read read) {
    std::sort(want.begin(), want.end());
    std::vector<std::string> got;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    do {
      got = read();
      std::sort(got.begin(), got.end());
      if (got == want) break;
      absl::SleepFor(absl::Milliseconds(200));
    } while (absl::Now() < deadline);
    return got;
  }

  std::vector<std::string> Prescriptions(const std::string& org, const std::string& regional,
                                         std::vector<std::string> want) {
    return Until(std::move(want), [&] {
      xv1::GetPatientPrescriptionsRequest req;
      req.set_regional_id(regional);
      xv1::GetPatientPrescriptionsResponse out;
      auto ctx = server::NewContext(absl::Seconds(10));
      grpc::Status s = e2e::StubAs<xv1::Prescriptions>("prescriptions", org)
                           ->GetPatientPrescriptions(ctx.get(), req, &out);
      std::vector<std::string> ids;
      if (!s.ok()) return std::vector<std::string>{"<" + s.error_message() + ">"};
      for (const auto& p : out.prescriptions()) ids.push_back(p.local_id());
      return ids;
    });
  }

  std::vector<std::string> Reports(const std::string& org, const std::string& regional,
                                   std::vector<std::string> want) {
    return Until(std::move(want), [&] {
      lv1::GetPatientResultsRequest req;
      req.set_regional_id(regional);
      lv1::GetPatientResultsResponse out;
      auto ctx = server::NewContext(absl::Seconds(10));
      grpc::Status s = e2e::StubAs<lv1::LabResults>("lab-results", org)
                           ->GetPatientResults(ctx.get(), req, &out);
      std::vector<std::string> ids;
      if (!s.ok()) return std::vector<std::string>{"<" + s.error_message() + ">"};
      for (const auto& r : out.reports()) ids.push_back(r.local_id());
      return ids;
    });
  }
};

TEST_F(JourneyE2eTest, MergeAndUnmergeReachPrescriptionsAndLabResults) {
  const std::string h_patient = "JH-" + run_, c_patient = "JC-" + run_;
  const std::string a = Register("city-hosp-1", h_patient, given_, birth_);
  ASSERT_FALSE(a.empty());
  const std::string b = RegisterOtherIdentity("county-hosp-east", c_patient);
  ASSERT_FALSE(b.empty());
  ASSERT_NE(a, b);

  const std::string rx_a = "JRX-H-" + run_, rx_b = "JRX-C-" + run_;
  const std::string lab_a = "JLAB-R-" + run_, lab_b = "JLAB-C-" + run_;
  Prescribe("city-hosp-1", rx_a, h_patient);
  Prescribe("county-hosp-east", rx_b, c_patient);
  // The regional laboratory for the city hospital's patient; the county
  // hospital's own laboratory for its patient.
  Report("lab-regional", lab_a, "city-hosp-1", h_patient);
  Report("county-hosp-east", lab_b, "county-hosp-east", c_patient);
  EXPECT_THAT(Prescriptions("city-hosp-1", a, {rx_a}), ElementsAre(rx_a));
  EXPECT_THAT(Prescriptions("county-hosp-east", b, {rx_b}), ElementsAre(rx_b));
  EXPECT_THAT(Reports("city-hosp-1", a, {lab_a}), ElementsAre(lab_a));
  EXPECT_THAT(Reports("county-hosp-east", b, {lab_b}), ElementsAre(lab_b));

  pv1::MergePatientsRequest merge;
  merge.set_from_regional_id(b);
  merge.set_into_regional_id(a);
  merge.set_reason("same person: registered with a different resident ID at the county");
  pv1::MergePatientsResponse merged;
  auto ctx = server::NewContext(absl::Seconds(10));
  grpc::Status s = Index("meridian-ops")->MergePatients(ctx.get(), merge, &merged);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // Under the merged identity, both hospitals see both prescriptions and
  // both reports (the regional default shares them for treatment).
  std::vector<std::string> rx_both = {rx_a, rx_b}, labs_both = {lab_a, lab_b};
  std::sort(rx_both.begin(), rx_both.end());
  std::sort(labs_both.begin(), labs_both.end());
  EXPECT_EQ(Prescriptions("city-hosp-1", a, rx_both), rx_both);
  EXPECT_EQ(Prescriptions("county-hosp-east", a, rx_both), rx_both);
  EXPECT_EQ(Reports("city-hosp-1", a, labs_both), labs_both);
  EXPECT_EQ(Reports("county-hosp-east", a, labs_both), labs_both);

  pv1::UnmergePatientsRequest unmerge;
  unmerge.set_merge_id(merged.merge_id());
  unmerge.set_reason("merged in error: two people");
  pv1::UnmergePatientsResponse unmerged;
  ctx = server::NewContext(absl::Seconds(10));
  s = Index("meridian-ops")->UnmergePatients(ctx.get(), unmerge, &unmerged);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // Each back under its own identity.
  EXPECT_THAT(Prescriptions("city-hosp-1", a, {rx_a}), ElementsAre(rx_a));
  EXPECT_THAT(Prescriptions("county-hosp-east", b, {rx_b}), ElementsAre(rx_b));
  EXPECT_THAT(Reports("city-hosp-1", a, {lab_a}), ElementsAre(lab_a));
  EXPECT_THAT(Reports("county-hosp-east", b, {lab_b}), ElementsAre(lab_b));
}

}  // namespace
}  // namespace meridian
