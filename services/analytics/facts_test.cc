#include "services/analytics/facts.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meridian/audit/v1/events.pb.h"
#include "meridian/labs/v1/events.pb.h"
#include "meridian/patient/v1/events.pb.h"
#include "meridian/prescriptions/v1/events.pb.h"
#include "meridian/records/v1/events.pb.h"

namespace meridian::analytics {
namespace {

// 2026-03-01 23:30 UTC is 2026-03-02 in the region (UTC+8).
constexpr int64_t kLateEvening = 1772407800;

events::v1::EventEnvelope Envelope(const std::string& type,
                                   const google::protobuf::Message& payload) {
  events::v1::EventEnvelope env;
  env.set_event_id("0b0e8f4e-8a55-4d8e-9a3b-3c1f4f6d2a10");
  env.set_type(type);
  env.set_regional_patient_id("p-pseudonym");
  env.mutable_occurred_at()->set_seconds(kLateEvening);
  env.mutable_payload()->PackFrom(payload);
  return env;
}

TEST(Icd10, CategoriesAndChapters) {
  EXPECT_EQ(Icd10Category("I10"), "I10");
  EXPECT_EQ(Icd10Category("E11.9"), "E11");
  EXPECT_EQ(Icd10Category("e11"), "");
  EXPECT_EQ(Icd10Category("11"), "");
  EXPECT_EQ(Icd10Chapter("A09"), "I");
  EXPECT_EQ(Icd10Chapter("D48"), "II");
  EXPECT_EQ(Icd10Chapter("D50"), "III");
  EXPECT_EQ(Icd10Chapter("E11"), "IV");
  EXPECT_EQ(Icd10Chapter("H59"), "VII");
  EXPECT_EQ(Icd10Chapter("H60"), "VIII");
  EXPECT_EQ(Icd10Chapter("I10"), "IX");
  EXPECT_EQ(Icd10Chapter("J18"), "X");
  EXPECT_EQ(Icd10Chapter("T98"), "XIX");
  EXPECT_EQ(Icd10Chapter("U07"), "XXII");
  EXPECT_EQ(Icd10Chapter("U99"), "");
  EXPECT_EQ(Icd10Chapter("W19"), "XX");
  EXPECT_EQ(Icd10Chapter("Z00"), "XXI");
  EXPECT_EQ(Icd10Chapter("I10.9"), "");
}

TEST(Extract, EncounterCountsOnceWithDiagnosesAndIsWithdrawnWhenEnteredInError) {
  records::v1::EncounterRecorded e;
  e.set_organisation_id("city-hospital-1");
  e.set_version(1);
  e.mutable_encounter()->set_encounter_class(records::v1::OUTPATIENT);
  auto* d1 = e.mutable_encounter()->add_diagnoses();
  d1->set_icd10_code("E11.9");
  auto* d2 = e.mutable_encounter()->add_diagnoses();
  d2->set_icd10_code("I10");
  d2->set_primary(true);
  auto x = Extract(Envelope("encounter.recorded", e));
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(x->patient, "p-pseudonym");
  ASSERT_EQ(x->facts.size(), 3u);
  const Fact& enc = x->facts.back();
  EXPECT_EQ(enc.measure, v1::ENCOUNTERS);
  EXPECT_EQ(enc.code, "I10");  // the primary diagnosis, not the first
  EXPECT_EQ(enc.code_group, "IX");
  EXPECT_EQ(enc.flag, "outpatient");
  EXPECT_EQ(enc.day, absl::CivilDay(2026, 3, 2));  // the region's day
  EXPECT_EQ(enc.delta, 1);
  EXPECT_EQ(x->facts[0].measure, v1::DIAGNOSES);
  EXPECT_EQ(x->facts[0].code, "E11");
  EXPECT_EQ(x->facts[0].flag, "secondary");

  e.set_version(2);  // a correction: counts nothing new
  EXPECT_TRUE(Extract(Envelope("encounter.recorded", e))->facts.empty());
  e.mutable_encounter()->set_entered_in_error(true);
  auto withdrawn = Extract(Envelope("encounter.recorded", e));
  ASSERT_EQ(withdrawn->facts.size(), 3u);
  for (const Fact& f : withdrawn->facts) EXPECT_EQ(f.delta, -1);
}

TEST(Extract, PrescriptionsAndDispensings) {
  prescriptions::v1::PrescriptionChanged p;
  p.set_organisation_id("county-hospital-1");
  p.set_actor_organisation("pharmacy-1");
  auto* amox = p.add_items();
  amox->set_atc_code("J01CA04");
  amox->set_antibiotic(true);
  amox->set_dispensed_now(2);
  auto* met = p.add_items();
  met->set_atc_code("A10BA02");
  auto issued = Extract(Envelope("prescription.issued", p));
  ASSERT_EQ(issued->facts.size(), 1u);
  EXPECT_EQ(issued->facts[0].measure, v1::PRESCRIPTIONS);
  EXPECT_EQ(issued->facts[0].institution, "county-hospital-1");
  EXPECT_EQ(issued->facts[0].code_group, "J01");
  EXPECT_EQ(issued->facts[0].flag, "antibiotic");
  auto dispensed = Extract(Envelope("prescription.dispensed", p));
  ASSERT_EQ(dispensed->facts.size(), 1u);  // only items dispensed now
  EXPECT_EQ(dispensed->facts[0].measure, v1::DISPENSINGS);
  EXPECT_EQ(dispensed->facts[0].institution, "pharmacy-1");
  EXPECT_TRUE(Extract(Envelope("prescription.verified", p))->facts.empty());
}

TEST(Extract, LabResultsGiveFlagsAndTheReportsProfile) {
  labs::v1::ReportChanged r;
  r.set_organisation_id("lab-1");
  r.mutable_report()->set_patient_sex(labs::v1::FEMALE);
  r.mutable_report()->set_patient_birth_date("40-44");
  for (labs::v1::Flag flag : {labs::v1::NORMAL, labs::v1::HIGH, labs::v1::CRITICAL_LOW,
                              labs::v1::FLAG_UNSPECIFIED}) {
    auto* result = r.mutable_report()->add_results();
    result->set_loinc_code("2345-7");
    result->set_flag(flag);
  }
  auto x = Extract(Envelope("lab.reported", r));
  ASSERT_TRUE(x->profile.has_value());
  EXPECT_EQ(x->profile->sex, "female");
  EXPECT_EQ(x->profile->age_band, "40-44");
  std::vector<std::string> flags;
  for (const Fact& f : x->facts) flags.push_back(f.flag);
  EXPECT_THAT(flags, ::testing::ElementsAre("normal", "abnormal", "critical", "unflagged"));
  EXPECT_TRUE(Extract(Envelope("lab.corrected", r))->facts.empty());
  // A birth date that was not banded never becomes a dimension value.
  r.mutable_report()->set_patient_birth_date("1980-05-01");
  EXPECT_EQ(Extract(Envelope("lab.reported", r))->profile->age_band, "unknown");
}

TEST(Extract, RegistrationsReferralsReusesAndCrossInstitutionReads) {
  patient::v1::PatientRegistered reg;
  reg.set_organisation_id("township-1");
  reg.set_decision(patient::v1::AUTO_LINKED);
  reg.mutable_profile()->set_sex(patient::v1::SEX_MALE);
  reg.mutable_profile()->set_birth_date("65-69");
  auto x = Extract(Envelope("patient.registered", reg));
  ASSERT_EQ(x->facts.size(), 1u);
  EXPECT_EQ(x->facts[0].flag, "auto_linked");
  EXPECT_EQ(x->profile->sex, "male");
  reg.set_updated(true);  // a re-registration is not a new one
  EXPECT_TRUE(Extract(Envelope("patient.registered", reg))->facts.empty());

  records::v1::ReferralChanged ref;
  ref.set_organisation_id("township-1");
  ref.set_version(1);
  ref.mutable_referral()->set_status(records::v1::REQUESTED);
  ref.mutable_referral()->set_to_organisation_id("county-hospital-1");
  auto referral = Extract(Envelope("referral.changed", ref));
  ASSERT_EQ(referral->facts.size(), 1u);
  EXPECT_EQ(referral->facts[0].code, "county-hospital-1");

  labs::v1::ResultReused reuse;
  reuse.set_reusing_organisation_id("city-hospital-2");
  reuse.set_loinc_code("718-7");
  EXPECT_EQ(Extract(Envelope("lab.reused", reuse))->facts[0].measure, v1::LAB_REUSES);

  audit::v1::AccessRecorded read;
  read.set_service("records");
  read.set_accessor_organisation("city-hospital-2");
  read.add_disclosed_organisations("city-hospital-2");
  read.add_disclosed_organisations("township-1");
  auto reads = Extract(Envelope("access.recorded", read));
  ASSERT_EQ(reads->facts.size(), 1u);  // its own records are not cross-institution
  EXPECT_EQ(reads->facts[0].flag, "township-1");
}

TEST(Extract, WrongPayloadIsAnErrorAndUnknownTypesCountNothing) {
  labs::v1::ResultReused reuse;
  EXPECT_EQ(Extract(Envelope("encounter.recorded", reuse)).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto x = Extract(Envelope("patient.linked", reuse));
  ASSERT_TRUE(x.ok());
  EXPECT_TRUE(x->facts.empty());
}

}  // namespace
}  // namespace meridian::analytics
