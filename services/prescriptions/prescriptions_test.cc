// The prescriptions logic over the in-memory stores.
#include "services/prescriptions/prescriptions.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/audit/audit.h"
#include "libs/consent/testing.h"
#include "libs/ids/uuid.h"
#include "libs/status/status_matchers.h"
#include "libs/timestamps/timestamps.h"
#include "services/prescriptions/in_memory_prescription_store.h"

namespace meridian::prescriptions {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kNow = absl::FromCivil(absl::CivilSecond(2026, 6, 1, 9, 0, 0),
                                        absl::UTCTimeZone());

orgs::Directory TestDirectory() {
  return *orgs::Directory::FromText(R"pb(
    organisation { id: "city-hosp-1" name: "City Hospital" type: TERTIARY_HOSPITAL district_code: "330102" }
    organisation { id: "county-hosp-east" name: "County Hospital" type: SECONDARY_HOSPITAL district_code: "330110" }
    organisation { id: "pharm-central" name: "Central Pharmacy" type: PHARMACY district_code: "330102" }
    organisation { id: "pharm-east" name: "East Pharmacy" type: PHARMACY district_code: "330110" }
  )pb");
}

v1::PrescriptionItem Item(const std::string& code, double dose, const std::string& unit,
                          v1::Frequency frequency, int days, int64_t quantity) {
  v1::PrescriptionItem item;
  item.set_drug_code(code);
  item.set_dose(dose);
  item.set_dose_unit(unit);
  item.set_frequency(frequency);
  item.set_route(v1::ORAL);
  item.set_days(days);
  item.set_quantity(quantity);
  return item;
}

// Amoxicillin 500 mg three times a day for 7 days (21 capsules) and
// paracetamol as needed (10 tablets).
v1::IssuePrescriptionRequest Rx(const std::string& local_id, const std::string& patient,
                                std::vector<v1::PrescriptionItem> items = {}) {
  v1::IssuePrescriptionRequest r;
  v1::Prescription* p = r.mutable_prescription();
  p->set_local_id(local_id);
  p->set_patient_local_id(patient);
  p->set_prescriber("DR-007");
  p->set_department("internal medicine");
  p->add_diagnosis_icd10("J18.9");
  *p->mutable_issued_at() = timestamps::ToProto(kNow - absl::Hours(1));
  if (items.empty()) {
    items.push_back(Item("J01CA04-C500", 500, "mg", v1::TID, 7, 21));
    v1::PrescriptionItem prn = Item("N02BE01-T500", 500, "mg", v1::PRN, 3, 10);
    prn.set_prn_max_doses_per_day(4);
    items.push_back(prn);
  }
  for (auto& i : items) *p->add_items() = i;
  return r;
}

class PrescriptionsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    formulary_ = new Formulary(*Formulary::LoadDir(MERIDIAN_FORMULARY_DIR));
  }

  void Link(const std::string& org, const std::string& local, const std::string& regional) {
    ASSERT_OK(xrefs_.Apply("test", ids::NewUuid(),
                           {{{org, local}, regional, absl::FromUnixSeconds(1)}}));
  }

  consent::Accessor As(const std::string& org) {
    const orgs::Organisation* o = directory_.Find(org);
    return {org, orgs::RoleOf(o->type()), "req-1"};
  }

  v1::IssuePrescriptionResponse Issue(const std::string& org,
                                      const v1::IssuePrescriptionRequest& r) {
    absl::StatusOr<v1::IssuePrescriptionResponse> out = logic_.Issue(As(org), r);
    EXPECT_OK(out);
    return out.ok() ? *out : v1::IssuePrescriptionResponse();
  }

  v1::DispensePrescriptionRequest Dispensing(const v1::IssuePrescriptionResponse& rx,
                                             const std::string& local_id,
                                             std::vector<std::pair<int, int64_t>> items) {
    v1::DispensePrescriptionRequest d;
    d.set_prescription_id(rx.prescription_id());
    d.set_verification_code(rx.verification_code());
    d.set_local_id(local_id);
    d.set_pharmacist("PH-3");
    for (auto [index, quantity] : items) {
      v1::DispensedItem* item = d.add_items();
      item->set_item_index(index);
      item->set_quantity(quantity);
      item->set_batch_number("B2026-05");
    }
    return d;
  }

  std::vector<std::string> EventTypes(const std::string& topic = kPrescriptionsTopic) {
    std::vector<std::string> out;
    for (const auto& e : store_.events()) {
      if (e.topic == topic) out.push_back(e.envelope.type());
    }
    return out;
  }

  std::vector<audit::v1::AccessRecorded> Audits() {
    std::vector<audit::v1::AccessRecorded> out;
    for (const auto& e : store_.events()) {
      if (e.topic != audit::kAuditTopic) continue;
      audit::v1::AccessRecorded a;
      EXPECT_TRUE(e.envelope.payload().UnpackTo(&a));
      out.push_back(a);
    }
    return out;
  }

  static Formulary* formulary_;
  absl::Time now_ = kNow;
  const std::string patient_ = ids::NewUuid();
  orgs::Directory directory_ = TestDirectory();
  InMemoryPrescriptionStore store_;
  xref::InMemoryXrefStore xrefs_;
  consent::testing::FakeChecker consent_;
  int codes_ = 0;
  Prescriptions logic_{&store_, &xrefs_, &consent_, &directory_, formulary_,
                       PrescriptionsOptions{
                           .default_validity_days = 3,
                           .clock = [this] { return now_; },
                           .new_code = [this] { return absl::StrCat("CODE", ++codes_); }}};
};
Formulary* PrescriptionsTest::formulary_ = nullptr;

TEST_F(PrescriptionsTest, IssueIsIdempotentAndCarriesWhatAnalyticsNeeds) {
  Link("city-hosp-1", "P-1", patient_);
  v1::IssuePrescriptionResponse first = Issue("city-hosp-1", Rx("RX-1", "P-1"));
  EXPECT_EQ(first.outcome(), v1::CREATED);
  EXPECT_TRUE(ids::IsUuid(first.prescription_id()));
  EXPECT_EQ(first.verification_code(), "CODE1");
  EXPECT_EQ(first.status(), v1::ISSUED);
  EXPECT_EQ(timestamps::FromProto(first.expires_at()), kNow - absl::Hours(1) + absl::Hours(72));
  EXPECT_THAT(first.findings(), IsEmpty());
  EXPECT_TRUE(first.cross_institution_checked());

  v1::IssuePrescriptionResponse again = Issue("city-hosp-1", Rx("RX-1", "P-1"));
  EXPECT_EQ(again.outcome(), v1::UNCHANGED);
  EXPECT_EQ(again.prescription_id(), first.prescription_id());
  EXPECT_EQ(again.verification_code(), first.verification_code());

  v1::IssuePrescriptionRequest changed = Rx("RX-1", "P-1");
  changed.mutable_prescription()->mutable_items(0)->set_quantity(30);
  EXPECT_THAT(logic_.Issue(As("city-hosp-1"), changed),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("prescription.local_id")));

  ASSERT_THAT(EventTypes(), ElementsAre("prescription.issued"));
  const events::v1::EventEnvelope envelope = store_.events()[0].envelope;
  EXPECT_EQ(envelope.key(), "city-hosp-1/P-1");
  EXPECT_EQ(envelope.regional_patient_id(), patient_);
  v1::PrescriptionChanged e;
  ASSERT_TRUE(envelope.payload().UnpackTo(&e));
  EXPECT_EQ(e.status(), v1::ISSUED);
  ASSERT_EQ(e.items_size(), 2);
  EXPECT_EQ(e.items(0).atc_code(), "J01CA04");
  EXPECT_EQ(e.items(0).therapy_class(), "penicillin");
  EXPECT_TRUE(e.items(0).antibiotic());
  EXPECT_FALSE(e.items(1).antibiotic());
  EXPECT_THAT(e.diagnosis_icd10(), ElementsAre("J18.9"));
}

TEST_F(PrescriptionsTest, BadInputIsRefusedNamingTheFieldAndStoresNothing) {
  struct Case {
    std::string name;
    std::function<void(v1::IssuePrescriptionRequest*)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"quantity zero", [](auto* r) { r->mutable_prescription()->mutable_items(0)->set_quantity(0); },
       "prescription.items[0].quantity"},
      {"negative quantity",
       [](auto* r) { r->mutable_prescription()->mutable_items(1)->set_quantity(-5); },
       "prescription.items[1].quantity"},
      {"unknown drug",
       [](auto* r) { r->mutable_prescription()->mutable_items(0)->set_drug_code("X99ZZ99-T1"); },
       "prescription.items[0].drug_code"},
      {"unit not convertible",
       [](auto* r) { r->mutable_prescription()->mutable_items(0)->set_dose_unit("IU"); },
       "prescription.items[0].dose_unit"},
      {"PRN without a maximum",
       [](auto* r) { r->mutable_prescription()->mutable_items(1)->clear_prn_max_doses_per_day(); },
       "prescription.items[1].prn_max_doses_per_day"},
      {"no diagnosis", [](auto* r) { r->mutable_prescription()->clear_diagnosis_icd10(); },
       "prescription.diagnosis_icd10"},
      {"bad ICD-10",
       [](auto* r) { r->mutable_prescription()->set_diagnosis_icd10(0, "pneumonia"); },
       "prescription.diagnosis_icd10[0]"},
      {"issued in the future",
       [](auto* r) {
         *r->mutable_prescription()->mutable_issued_at() =
             timestamps::ToProto(kNow + absl::Hours(24));
       },
       "prescription.issued_at"},
      {"no items", [](auto* r) { r->mutable_prescription()->clear_items(); },
       "prescription.items"},
      {"malformed local id", [](auto* r) { r->mutable_prescription()->set_local_id("a b"); },
       "prescription.local_id"},
      {"validity too long", [](auto* r) { r->mutable_prescription()->set_validity_days(31); },
       "prescription.validity_days"},
      {"override without reason",
       [](auto* r) { r->add_overrides()->set_finding_id("interaction:a+b"); },
       "overrides[0].reason"},
      {"override of no finding",
       [](auto* r) {
         auto* o = r->add_overrides();
         o->set_finding_id("interaction:a+b");
         o->set_reason("clinically needed");
       },
       "overrides[0].finding_id"},
  };
  for (const Case& c : cases) {
    v1::IssuePrescriptionRequest r = Rx("RX-BAD", "P-1");
    c.mutate(&r);
    EXPECT_THAT(logic_.Issue(As("city-hosp-1"), r),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.field)))
        << c.name;
  }
  EXPECT_THAT(store_.events(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto none, store_.FindByLocal("city-hosp-1", "RX-BAD"));
  EXPECT_FALSE(none.has_value());
}

TEST_F(PrescriptionsTest, ContraindicationAcrossInstitutionsIsRefusedUnlessOverridden) {
  Link("city-hosp-1", "P-1", patient_);
  Link("county-hosp-east", "E-77", patient_);
  consent_.Permit(consent::v1::PRESCRIPTIONS);
  // The county hospital prescribed simvastatin for 30 days.
  Issue("county-hosp-east",
        Rx("C-1", "E-77", {Item("C10AA01-T20", 20, "mg", v1::QN, 30, 30)}));

  // The city hospital's clarithromycin meets it: refused, nothing stored.
  v1::IssuePrescriptionRequest clarithromycin =
      Rx("RX-2", "P-1", {Item("J01FA09-T250", 250, "mg", v1::BID, 7, 14)});
  v1::IssuePrescriptionResponse refused = Issue("city-hosp-1", clarithromycin);
  EXPECT_EQ(refused.outcome(), v1::REFUSED);
  EXPECT_TRUE(refused.prescription_id().empty());
  EXPECT_TRUE(refused.cross_institution_checked());
  ASSERT_EQ(refused.findings_size(), 1);
  const v1::SafetyFinding& f = refused.findings(0);
  EXPECT_EQ(f.severity(), v1::CONTRAINDICATED);
  EXPECT_TRUE(f.other_institution());
  EXPECT_EQ(f.other_drug_code(), "C10AA01-T20");
  EXPECT_THAT(f.message(), Not(HasSubstr("county-hosp-east")));  // no institution named
  ASSERT_OK_AND_ASSIGN(auto none, store_.FindByLocal("city-hosp-1", "RX-2"));
  EXPECT_FALSE(none.has_value());
  // The consent decision was asked for treatment, and the read audited.
  EXPECT_EQ(consent_.requests.back().category, consent::v1::PRESCRIPTIONS);
  EXPECT_EQ(consent_.requests.back().purpose, consent::v1::TREATMENT);
  ASSERT_FALSE(Audits().empty());
  EXPECT_EQ(Audits().back().operation(), "IssuePrescription.SafetyCheck");
  EXPECT_THAT(Audits().back().disclosed_organisations(), ElementsAre("county-hosp-east"));

  // CheckPrescription answers the same without storing.
  ASSERT_OK_AND_ASSIGN(auto checked, logic_.Issue(As("city-hosp-1"), clarithromycin, true));
  EXPECT_EQ(checked.outcome(), v1::REFUSED);

  // Overridden with a reason: issued, and the override is kept and flagged.
  v1::SafetyOverride* o = clarithromycin.add_overrides();
  o->set_finding_id(f.id());
  o->set_reason("statin paused for the course, patient informed");
  ASSERT_OK_AND_ASSIGN(auto dry, logic_.Issue(As("city-hosp-1"), clarithromycin, true));
  EXPECT_EQ(dry.outcome(), v1::CHECKED);
  EXPECT_TRUE(dry.prescription_id().empty());  // nothing stored, no ID given
  v1::IssuePrescriptionResponse issued = Issue("city-hosp-1", clarithromycin);
  EXPECT_EQ(issued.outcome(), v1::CREATED);
  EXPECT_EQ(issued.findings_size(), 1);
  ASSERT_OK_AND_ASSIGN(auto stored, store_.FindByLocal("city-hosp-1", "RX-2"));
  ASSERT_TRUE(stored.has_value());
  ASSERT_EQ(stored->prescription.overrides_size(), 1);
  EXPECT_EQ(stored->prescription.overrides(0).reason(),
            "statin paused for the course, patient informed");
  v1::PrescriptionChanged e;
  ASSERT_TRUE(store_.events().back().envelope.payload().UnpackTo(&e));
  EXPECT_TRUE(e.overridden());
}

TEST_F(PrescriptionsTest, WithoutConsentTheChecksCoverThisInstitutionOnlyAndSaySo) {
  Link("city-hosp-1", "P-1", patient_);
  Link("county-hosp-east", "E-77", patient_);
  Issue("county-hosp-east", Rx("C-1", "E-77", {Item("C10AA01-T20", 20, "mg", v1::QN, 30, 30)}));
  const auto clarithromycin = Rx("RX-2", "P-1", {Item("J01FA09-T250", 250, "mg", v1::BID, 7, 14)});

  // Refused by consent (the fake's default): issued, not checked across.
  ASSERT_OK_AND_ASSIGN(auto denied, logic_.Issue(As("city-hosp-1"), clarithromycin, true));
  EXPECT_EQ(denied.outcome(), v1::CHECKED);
  EXPECT_FALSE(denied.cross_institution_checked());
  EXPECT_THAT(denied.findings(), IsEmpty());
  EXPECT_THAT(Audits(), IsEmpty());  // nothing of another institution was read

  // The consent service unreachable: the same, prescribing is not blocked.
  consent_.fail_with = absl::UnavailableError("consent: deadline exceeded");
  v1::IssuePrescriptionResponse issued = Issue("city-hosp-1", clarithromycin);
  EXPECT_EQ(issued.outcome(), v1::CREATED);
  EXPECT_FALSE(issued.cross_institution_checked());
  // A retry answers as the first time did, consent back or not.
  consent_.fail_with = absl::OkStatus();
  consent_.Permit(consent::v1::PRESCRIPTIONS);
  v1::IssuePrescriptionResponse again = Issue("city-hosp-1", clarithromycin);
  EXPECT_EQ(again.outcome(), v1::UNCHANGED);
  EXPECT_FALSE(again.cross_institution_checked());
  consent_.decisions.clear();

  // The institution's own active prescriptions are always checked.
  v1::IssuePrescriptionResponse own = Issue(
      "city-hosp-1", Rx("RX-3", "P-1", {Item("C10AA01-T20", 20, "mg", v1::QN, 30, 30)}));
  EXPECT_EQ(own.outcome(), v1::REFUSED);
  ASSERT_EQ(own.findings_size(), 1);
  EXPECT_FALSE(own.findings(0).other_institution());
}

TEST_F(PrescriptionsTest, DispensingInPartsNeverExceedsTheQuantity) {
  Link("city-hosp-1", "P-1", patient_);
  v1::IssuePrescriptionResponse rx = Issue("city-hosp-1", Rx("RX-1", "P-1"));
  ASSERT_OK_AND_ASSIGN(auto part,
                       logic_.Dispense(As("pharm-central"), Dispensing(rx, "D-1", {{0, 14}})));
  EXPECT_EQ(part.outcome(), v1::CREATED);
  EXPECT_EQ(part.status(), v1::PARTIALLY_DISPENSED);
  EXPECT_THAT(part.remaining(), ElementsAre(7, 10));

  // A retry of the same dispensing changes nothing.
  ASSERT_OK_AND_ASSIGN(auto retry,
                       logic_.Dispense(As("pharm-central"), Dispensing(rx, "D-1", {{0, 14}})));
  EXPECT_EQ(retry.outcome(), v1::UNCHANGED);
  EXPECT_THAT(retry.remaining(), ElementsAre(7, 10));
  EXPECT_THAT(logic_.Dispense(As("pharm-central"), Dispensing(rx, "D-1", {{0, 1}})),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("local_id")));

  // More than remains, a wrong code, an item that does not exist.
  EXPECT_THAT(logic_.Dispense(As("pharm-east"), Dispensing(rx, "E-1", {{0, 8}})),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("items[0].quantity: more than the 7 remaining")));
  auto wrong = Dispensing(rx, "E-1", {{0, 7}});
  wrong.set_verification_code("CODE999");
  EXPECT_THAT(logic_.Dispense(As("pharm-east"), wrong), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(logic_.Dispense(As("pharm-east"), Dispensing(rx, "E-1", {{2, 1}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("items[0].item_index")));
  EXPECT_THAT(logic_.Dispense(As("pharm-east"), Dispensing(rx, "E-1", {{0, 0}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("items[0].quantity")));

  // Another pharmacy dispenses the rest.
  ASSERT_OK_AND_ASSIGN(auto rest, logic_.Dispense(As("pharm-east"),
                                                  Dispensing(rx, "E-1", {{0, 7}, {1, 10}})));
  EXPECT_EQ(rest.status(), v1::DISPENSED);
  EXPECT_THAT(rest.remaining(), ElementsAre(0, 0));
  EXPECT_THAT(logic_.Dispense(As("pharm-east"), Dispensing(rx, "E-2", {{0, 1}})),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("fully dispensed")));
  EXPECT_THAT(EventTypes(), ElementsAre("prescription.issued", "prescription.dispensed",
                                        "prescription.dispensed"));
  v1::PrescriptionChanged e;
  ASSERT_TRUE(store_.events().back().envelope.payload().UnpackTo(&e));
  EXPECT_EQ(e.actor_organisation(), "pharm-east");
  EXPECT_EQ(e.dispensing_local_id(), "E-1");
  EXPECT_EQ(e.items(0).dispensed_now(), 7);
  EXPECT_EQ(e.items(0).dispensed_total(), 21);
  // The issuer cannot cancel what is fully dispensed.
  v1::CancelPrescriptionRequest cancel;
  cancel.set_prescription_id(rx.prescription_id());
  cancel.set_reason("changed therapy");
  EXPECT_THAT(logic_.Cancel(As("city-hosp-1"), cancel),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("fully dispensed")));
}

TEST_F(PrescriptionsTest, OnlyTheIssuerCancelsAndNothingIsDispensedAfterwards) {
  v1::IssuePrescriptionResponse rx = Issue("city-hosp-1", Rx("RX-1", "P-1"));
  v1::CancelPrescriptionRequest cancel;
  cancel.set_prescription_id(rx.prescription_id());
  EXPECT_THAT(logic_.Cancel(As("city-hosp-1"), cancel),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reason")));
  cancel.set_reason("allergy reported");
  EXPECT_THAT(logic_.Cancel(As("county-hosp-east"), cancel),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("only the issuer")));
  ASSERT_OK_AND_ASSIGN(auto cancelled, logic_.Cancel(As("city-hosp-1"), cancel));
  EXPECT_EQ(cancelled.status(), v1::CANCELLED);
  ASSERT_OK(logic_.Cancel(As("city-hosp-1"), cancel));  // a retry
  EXPECT_THAT(logic_.Dispense(As("pharm-central"), Dispensing(rx, "D-1", {{0, 1}})),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cancelled")));
  EXPECT_THAT(EventTypes(), ElementsAre("prescription.issued", "prescription.cancelled"));
  ASSERT_OK_AND_ASSIGN(auto stored, store_.Get(rx.prescription_id()));
  EXPECT_EQ(stored->prescription.cancellation().reason(), "allergy reported");
}

TEST_F(PrescriptionsTest, ExpiryStopsDispensingAndIsAnnouncedOnce) {
  Link("city-hosp-1", "P-1", patient_);
  v1::IssuePrescriptionResponse rx = Issue("city-hosp-1", Rx("RX-1", "P-1"));
  now_ += absl::Hours(72);  // validity (3 days from an hour ago) has ended
  v1::LookupPrescriptionRequest lookup;
  lookup.set_prescription_id(rx.prescription_id());
  lookup.set_verification_code(rx.verification_code());
  ASSERT_OK_AND_ASSIGN(auto seen, logic_.Lookup(As("pharm-central"), lookup));
  EXPECT_EQ(seen.prescription().status(), v1::EXPIRED);
  EXPECT_THAT(logic_.Dispense(As("pharm-central"), Dispensing(rx, "D-1", {{0, 1}})),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("expired")));
  ASSERT_OK_AND_ASSIGN(int expired, logic_.ExpireDue());
  EXPECT_EQ(expired, 1);
  ASSERT_OK_AND_ASSIGN(expired, logic_.ExpireDue());
  EXPECT_EQ(expired, 0);
  EXPECT_THAT(EventTypes(), ElementsAre("prescription.issued", "prescription.expired"));

  // A historic prescription already past its validity is stored expired.
  v1::IssuePrescriptionRequest old = Rx("RX-OLD", "P-1");
  *old.mutable_prescription()->mutable_issued_at() =
      timestamps::ToProto(kNow - absl::Hours(24 * 400));
  v1::IssuePrescriptionResponse historic = Issue("city-hosp-1", old);
  EXPECT_EQ(historic.status(), v1::EXPIRED);
}

TEST_F(PrescriptionsTest, APartlyDispensedPrescriptionPastItsValidityIsStillTaken) {
  Link("city-hosp-1", "P-1", patient_);
  // Simvastatin for 30 days, valid for 3: half dispensed, then expired.
  v1::IssuePrescriptionResponse statin =
      Issue("city-hosp-1", Rx("S-1", "P-1", {Item("C10AA01-T20", 20, "mg", v1::QN, 30, 30)}));
  ASSERT_OK(logic_.Dispense(As("pharm-central"), Dispensing(statin, "D-1", {{0, 15}})));
  // Atorvastatin, never dispensed: the patient is not taking it.
  ASSERT_EQ(Issue("city-hosp-1",
                  Rx("S-2", "P-1", {Item("C10AA05-T10", 10, "mg", v1::QN, 30, 30)}))
                .outcome(),
            v1::CREATED);
  now_ += absl::Hours(24 * 5);
  ASSERT_OK(logic_.ExpireDue());
  // Rosuvastatin now: a duplicate of the simvastatin still being taken, not
  // of the atorvastatin that expired undispensed.
  auto check = Rx("S-3", "P-1", {Item("C10AA07-T10", 10, "mg", v1::QN, 30, 30)});
  ASSERT_OK_AND_ASSIGN(auto checked, logic_.Issue(As("city-hosp-1"), check, true));
  std::set<std::string> others;
  for (const auto& f : checked.findings()) others.insert(f.other_drug_code());
  EXPECT_TRUE(others.contains("C10AA01-T20"));
  EXPECT_FALSE(others.contains("C10AA05-T10"));
}

TEST_F(PrescriptionsTest, LookupShowsThePharmacyNothingElseAboutThePatientAndIsAudited) {
  Link("city-hosp-1", "P-1", patient_);
  v1::IssuePrescriptionRequest request = Rx("RX-1", "P-1");
  request.mutable_prescription()->set_encounter_local_id("ENC-9");
  v1::IssuePrescriptionResponse rx = Issue("city-hosp-1", request);
  v1::LookupPrescriptionRequest lookup;
  lookup.set_prescription_id(rx.prescription_id());
  lookup.set_verification_code("WRONG");
  EXPECT_THAT(logic_.Lookup(As("pharm-central"), lookup),
              StatusIs(absl::StatusCode::kNotFound));
  lookup.set_prescription_id(ids::NewUuid());
  lookup.set_verification_code(rx.verification_code());
  EXPECT_THAT(logic_.Lookup(As("pharm-central"), lookup),
              StatusIs(absl::StatusCode::kNotFound));
  // An unknown ID and a wrong code are told apart by nothing.
  lookup.set_verification_code("WRONG");
  const absl::Status unknown = logic_.Lookup(As("pharm-central"), lookup).status();
  lookup.set_prescription_id(rx.prescription_id());
  const absl::Status wrong = logic_.Lookup(As("pharm-central"), lookup).status();
  EXPECT_EQ(unknown, wrong);
  lookup.set_verification_code(rx.verification_code());
  lookup.set_prescription_id("not-an-id");
  EXPECT_THAT(logic_.Lookup(As("pharm-central"), lookup),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("prescription_id")));

  lookup.set_prescription_id(rx.prescription_id());
  ASSERT_OK_AND_ASSIGN(auto found, logic_.Lookup(As("pharm-central"), lookup));
  const v1::Prescription& p = found.prescription();
  EXPECT_EQ(p.items_size(), 2);
  EXPECT_EQ(p.organisation_id(), "city-hosp-1");
  EXPECT_TRUE(p.patient_local_id().empty());
  EXPECT_TRUE(p.encounter_local_id().empty());
  ASSERT_EQ(Audits().size(), 1u);
  EXPECT_EQ(Audits()[0].operation(), "LookupPrescription");
  EXPECT_EQ(Audits()[0].accessor_organisation(), "pharm-central");
  EXPECT_EQ(Audits()[0].regional_id(), patient_);
  EXPECT_EQ(Audits()[0].decisions(0).decided_by(), "verification-code");
}

TEST_F(PrescriptionsTest, VerifiedByTheIssuerOrAPharmacyWithTheCode) {
  v1::IssuePrescriptionResponse rx = Issue("city-hosp-1", Rx("RX-1", "P-1"));
  v1::VerifyPrescriptionRequest verify;
  verify.set_prescription_id(rx.prescription_id());
  verify.set_pharmacist("PH-1");
  EXPECT_THAT(logic_.Verify(As("pharm-central"), verify), StatusIs(absl::StatusCode::kNotFound));
  verify.set_verification_code(rx.verification_code());
  ASSERT_OK_AND_ASSIGN(auto verified, logic_.Verify(As("pharm-central"), verify));
  EXPECT_EQ(verified.status(), v1::VERIFIED);
  ASSERT_OK(logic_.Verify(As("pharm-central"), verify));  // a retry
  EXPECT_THAT(logic_.Verify(As("city-hosp-1"), verify),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("only an ISSUED")));
  EXPECT_THAT(EventTypes(), ElementsAre("prescription.issued", "prescription.verified"));
  // A verified prescription is dispensed as usual.
  ASSERT_OK(logic_.Dispense(As("pharm-east"), Dispensing(rx, "E-1", {{0, 21}, {1, 10}})));
}

TEST_F(PrescriptionsTest, PatientReadIsConsentCheckedAuditedAndPaged) {
  Link("city-hosp-1", "P-1", patient_);
  Link("county-hosp-east", "E-77", patient_);
  for (int i = 0; i < 3; ++i) {
    v1::IssuePrescriptionRequest r = Rx(absl::StrCat("RX-", i), "P-1");
    *r.mutable_prescription()->mutable_issued_at() =
        timestamps::ToProto(kNow - absl::Hours(10 - i));
    Issue("city-hosp-1", r);
  }
  Issue("county-hosp-east", Rx("C-1", "E-77", {Item("C10AA01-T20", 20, "mg", v1::QN, 30, 30)}));

  v1::GetPatientPrescriptionsRequest read;
  read.set_regional_id(patient_);
  // Denied by consent: only the caller's own, and it says what was withheld.
  ASSERT_OK_AND_ASSIGN(auto own, logic_.GetPatientPrescriptions(As("city-hosp-1"), read));
  EXPECT_EQ(own.prescriptions_size(), 3);
  EXPECT_FALSE(own.withheld_reason().empty());
  // Permitted: everyone's, newest first, in pages.
  consent_.Permit(consent::v1::PRESCRIPTIONS);
  read.set_page_size(3);
  ASSERT_OK_AND_ASSIGN(auto page1, logic_.GetPatientPrescriptions(As("city-hosp-1"), read));
  ASSERT_EQ(page1.prescriptions_size(), 3);
  EXPECT_EQ(page1.prescriptions(0).local_id(), "C-1");
  EXPECT_EQ(page1.prescriptions(1).local_id(), "RX-2");
  ASSERT_FALSE(page1.next_page_token().empty());
  read.set_page_token(page1.next_page_token());
  ASSERT_OK_AND_ASSIGN(auto page2, logic_.GetPatientPrescriptions(As("city-hosp-1"), read));
  ASSERT_EQ(page2.prescriptions_size(), 1);
  EXPECT_EQ(page2.prescriptions(0).local_id(), "RX-0");
  EXPECT_TRUE(page2.next_page_token().empty());
  auto audits = Audits();
  ASSERT_GE(audits.size(), 3u);
  EXPECT_EQ(audits.back().operation(), "GetPatientPrescriptions");
  EXPECT_EQ(audits.back().items_returned(), 1);
  EXPECT_EQ(audits[audits.size() - 2].items_returned(), 3);
  EXPECT_THAT(audits[audits.size() - 2].disclosed_organisations(),
              ElementsAre("city-hosp-1", "county-hosp-east"));

  // Fails closed when consent cannot be asked; bad input names the field.
  consent_.fail_with = absl::UnavailableError("consent: deadline exceeded");
  read.clear_page_token();
  EXPECT_THAT(logic_.GetPatientPrescriptions(As("city-hosp-1"), read),
              StatusIs(absl::StatusCode::kUnavailable));
  read.set_page_token("garbage");
  EXPECT_THAT(logic_.GetPatientPrescriptions(As("city-hosp-1"), read),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  read.set_regional_id(ids::NewUuid());
  read.clear_page_token();
  EXPECT_THAT(logic_.GetPatientPrescriptions(As("city-hosp-1"), read),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(PrescriptionsTest, ADatabaseDownFailsTheCallAndStoresNothing) {
  store_.FailWith(absl::UnavailableError("database down"));
  EXPECT_THAT(logic_.Issue(As("city-hosp-1"), Rx("RX-1", "P-1")),
              StatusIs(absl::StatusCode::kUnavailable));
  store_.FailWith(absl::OkStatus());
  EXPECT_THAT(store_.events(), IsEmpty());
}

}  // namespace
}  // namespace meridian::prescriptions
