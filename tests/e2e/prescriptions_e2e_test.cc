// End to end across the running platform (tools/meridian up): a person
// registered at two hospitals with the real patient index; the links reach
// the prescriptions service through Kafka; one hospital's statin meets the
// other's macrolide in the safety checks only where the patient's consent
// (the real consent service) lets prescriptions be shared; a pharmacy finds
// the prescription by its code and dispenses it; the patient read follows
// consent to the very next call after a refusal.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/timestamps/timestamps.h"
#include "meridian/prescriptions/v1/prescriptions.grpc.pb.h"
#include "tests/e2e/e2e.h"

namespace meridian {
namespace {

namespace cv1 = ::meridian::consent::v1;
namespace xv1 = ::meridian::prescriptions::v1;

class PrescriptionsE2eTest : public e2e::PlatformTest {
 protected:
  std::unique_ptr<xv1::Prescriptions::Stub> Rx(const std::string& org) {
    return e2e::StubAs<xv1::Prescriptions>("prescriptions", org);
  }

  static xv1::IssuePrescriptionRequest Request(const std::string& local_id,
                                               const std::string& patient,
                                               const std::string& drug, double dose_mg,
                                               xv1::Frequency frequency, int days,
                                               int64_t quantity) {
    xv1::IssuePrescriptionRequest r;
    xv1::Prescription* p = r.mutable_prescription();
    p->set_local_id(local_id);
    p->set_patient_local_id(patient);
    p->set_prescriber("DR-E2E");
    p->add_diagnosis_icd10("J20.9");
    *p->mutable_issued_at() = timestamps::ToProto(absl::Now() - absl::Minutes(1));
    xv1::PrescriptionItem* item = p->add_items();
    item->set_drug_code(drug);
    item->set_dose(dose_mg);
    item->set_dose_unit("mg");
    item->set_frequency(frequency);
    item->set_route(xv1::ORAL);
    item->set_days(days);
    item->set_quantity(quantity);
    return r;
  }

  grpc::Status Issue(const std::string& org, const xv1::IssuePrescriptionRequest& r,
                     xv1::IssuePrescriptionResponse* out, bool check_only = false) {
    auto ctx = server::NewContext(absl::Seconds(10));
    return check_only ? Rx(org)->CheckPrescription(ctx.get(), r, out)
                      : Rx(org)->IssuePrescription(ctx.get(), r, out);
  }

  // The local IDs of the patient's prescriptions `org` may read.
  std::vector<std::string> Read(const std::string& org, const std::string& regional) {
    xv1::GetPatientPrescriptionsRequest req;
    req.set_regional_id(regional);
    xv1::GetPatientPrescriptionsResponse out;
    auto ctx = server::NewContext(absl::Seconds(10));
    grpc::Status s = Rx(org)->GetPatientPrescriptions(ctx.get(), req, &out);
    if (!s.ok()) return {"<" + s.error_message() + ">"};
    std::vector<std::string> ids;
    for (const auto& p : out.prescriptions()) ids.push_back(p.local_id());
    std::sort(ids.begin(), ids.end());
    return ids;
  }
};

TEST_F(PrescriptionsE2eTest, SafetyChecksFollowConsentAndAPharmacyDispenses) {
  const std::string c_patient = "C-" + run_, h_patient = "H-" + run_;
  const std::string regional = Register("county-hosp-east", c_patient, given_, birth_);
  ASSERT_FALSE(regional.empty());
  ASSERT_EQ(Register("city-hosp-1", h_patient, given_, birth_), regional);

  // The county hospital prescribes simvastatin for a month.
  xv1::IssuePrescriptionResponse statin;
  ASSERT_TRUE(Issue("county-hosp-east",
                    Request("CS-" + run_, c_patient, "C10AA01-T20", 20, xv1::QN, 30, 30),
                    &statin)
                  .ok());
  ASSERT_EQ(statin.outcome(), xv1::CREATED);

  // The patient shares prescriptions with everyone; once the link has
  // reached the prescriptions service (Kafka), the city hospital's
  // clarithromycin is refused for the county's statin.
  e2e::PlatformTest::Directive(regional, cv1::PERMIT, "", cv1::PRESCRIPTIONS);
  const auto clarithromycin =
      Request("HC-" + run_, h_patient, "J01FA09-T250", 250, xv1::BID, 7, 14);
  xv1::IssuePrescriptionResponse checked;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  do {
    ASSERT_TRUE(Issue("city-hosp-1", clarithromycin, &checked, /*check_only=*/true).ok());
    if (checked.outcome() == xv1::REFUSED) break;
    absl::SleepFor(absl::Milliseconds(200));
  } while (absl::Now() < deadline);
  ASSERT_EQ(checked.outcome(), xv1::REFUSED) << checked.DebugString();
  ASSERT_EQ(checked.findings_size(), 1);
  EXPECT_TRUE(checked.findings(0).other_institution());
  EXPECT_EQ(checked.findings(0).severity(), xv1::CONTRAINDICATED);
  EXPECT_TRUE(checked.cross_institution_checked());

  // Overridden with a reason it is issued; a pharmacy dispenses it in two
  // visits, the second at another pharmacy.
  auto overridden = clarithromycin;
  auto* o = overridden.add_overrides();
  o->set_finding_id(checked.findings(0).id());
  o->set_reason("statin paused during the course");
  xv1::IssuePrescriptionResponse issued;
  ASSERT_TRUE(Issue("city-hosp-1", overridden, &issued).ok());
  ASSERT_EQ(issued.outcome(), xv1::CREATED);
  xv1::LookupPrescriptionRequest lookup;
  lookup.set_prescription_id(issued.prescription_id());
  lookup.set_verification_code(issued.verification_code());
  xv1::LookupPrescriptionResponse found;
  auto ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(Rx("pharm-central")->LookupPrescription(ctx.get(), lookup, &found).ok());
  EXPECT_TRUE(found.prescription().patient_local_id().empty());
  for (const auto& [pharmacy, quantity, status] :
       {std::tuple<std::string, int, xv1::PrescriptionStatus>{"pharm-central", 6,
                                                              xv1::PARTIALLY_DISPENSED},
        {"pharm-east", 8, xv1::DISPENSED}}) {
    xv1::DispensePrescriptionRequest d;
    d.set_prescription_id(issued.prescription_id());
    d.set_verification_code(issued.verification_code());
    d.set_local_id("D-" + run_);
    d.set_pharmacist("PH-E2E");
    auto* item = d.add_items();
    item->set_item_index(0);
    item->set_quantity(quantity);
    item->set_batch_number("LOT-1");
    xv1::DispensePrescriptionResponse out;
    ctx = server::NewContext(absl::Seconds(10));
    grpc::Status s = Rx(pharmacy)->DispensePrescription(ctx.get(), d, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(out.status(), status);
  }

  // The city hospital reads both institutions' prescriptions; once the
  // patient refuses sharing them, the very next read has the city's own.
  const std::string cs = "CS-" + run_, hc = "HC-" + run_;
  EXPECT_THAT(Read("city-hosp-1", regional), ::testing::ElementsAre(cs, hc));
  e2e::PlatformTest::Directive(regional, cv1::DENY, "", cv1::PRESCRIPTIONS);
  EXPECT_THAT(Read("city-hosp-1", regional), ::testing::ElementsAre(hc));

  // The events left through the outbox for Kafka: the city's prescription
  // issued and dispensed twice, keyed by institution and patient, with the
  // regional ID.
  std::vector<std::string> types;
  for (const auto& e : AwaitEvents(
           "meridian.prescriptions.v1",
           [&](const auto& e) { return e.key() == "city-hosp-1/" + h_patient; }, 3)) {
    types.push_back(e.type());
    EXPECT_EQ(e.regional_patient_id(), regional);
  }
  EXPECT_THAT(types, ::testing::ElementsAre("prescription.issued", "prescription.dispensed",
                                            "prescription.dispensed"));

  // The pharmacy's lookup and the reads are in the consent service's audit
  // log, which the patient sees.
  bool lookup_audited = false;
  const absl::Time audit_deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < audit_deadline && !lookup_audited) {
    cv1::ListAccessesRequest q;
    q.set_regional_id(regional);
    q.set_page_size(1000);
    cv1::ListAccessesResponse out;
    ctx = server::NewContext(absl::Seconds(10));
    ASSERT_TRUE(Portal()->ListAccesses(ctx.get(), q, &out).ok());
    for (const auto& a : out.accesses()) {
      lookup_audited |= a.accessor_organisation() == "pharm-central";
    }
    if (!lookup_audited) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(lookup_audited);
}

}  // namespace
}  // namespace meridian
