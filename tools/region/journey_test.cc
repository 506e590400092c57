#include "tools/region/journey.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fields/fields.h"
#include "libs/timestamps/timestamps.h"
#include "services/lab-results/reference.h"
#include "services/patient-index/patient_index.h"
#include "services/prescriptions/formulary.h"
#include "services/prescriptions/safety.h"
#include "services/records/validation.h"

namespace meridian::region {
namespace {

namespace cv1 = ::meridian::consent::v1;
namespace lv1 = ::meridian::labs::v1;
namespace ov1 = ::meridian::organisations::v1;
namespace pv1 = ::meridian::patient::v1;
namespace rv1 = ::meridian::records::v1;
namespace xv1 = ::meridian::prescriptions::v1;

const absl::Time kNow = absl::FromCivil(absl::CivilSecond(2025, 6, 15, 9, 30, 0),
                                        absl::UTCTimeZone());

class JourneyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<orgs::Directory> d = orgs::Directory::LoadFile(MERIDIAN_ORGANISATIONS_FILE);
    ASSERT_TRUE(d.ok()) << d.status();
    directory_ = new orgs::Directory(*std::move(d));
    absl::StatusOr<Region> r = Region::FromDirectory(*directory_);
    ASSERT_TRUE(r.ok()) << r.status();
    region_ = new Region(*std::move(r));
    options_ = new Options{.seed = 42, .patients = 400, .run = "t1", .now = kNow};
    population_ = new std::vector<std::vector<Step>>(Population(*region_, *options_));
  }

  static const std::vector<std::vector<Step>>& population() { return *population_; }

  static orgs::Directory* directory_;
  static Region* region_;
  static Options* options_;
  static std::vector<std::vector<Step>>* population_;
};

orgs::Directory* JourneyTest::directory_ = nullptr;
Region* JourneyTest::region_ = nullptr;
Options* JourneyTest::options_ = nullptr;
std::vector<std::vector<Step>>* JourneyTest::population_ = nullptr;

// Everything a step says, as one comparable string.
std::string Describe(const Step& s) {
  std::string request;
  std::visit([&](const auto& m) { request = m.SerializeAsString(); }, s.request);
  return absl::StrCat(s.patient, "|", s.seq, "|", KindName(s.kind), "|", s.org, "|",
                      static_cast<int>(s.expect), "|", s.ref, "|", absl::StrJoin(s.shared_by, ","),
                      "|", request);
}

std::vector<std::string> DescribeAll(const std::vector<std::vector<Step>>& all) {
  std::vector<std::string> out;
  for (const auto& journey : all) {
    for (const Step& s : journey) out.push_back(Describe(s));
  }
  return out;
}

TEST_F(JourneyTest, TheSameSeedGivesTheSameSteps) {
  EXPECT_EQ(DescribeAll(Population(*region_, *options_)), DescribeAll(population()));
  Options other = *options_;
  other.seed = 43;
  EXPECT_NE(DescribeAll(Population(*region_, other)), DescribeAll(population()));
}

TEST_F(JourneyTest, AnotherRunMeetsOtherPeopleOnTheSameJourneys) {
  Options other = *options_;
  other.run = "t2";
  const auto again = Population(*region_, other);
  ASSERT_EQ(again.size(), population().size());
  int same_names = 0;
  for (size_t p = 0; p < again.size(); ++p) {
    ASSERT_EQ(again[p].size(), population()[p].size());
    for (size_t i = 0; i < again[p].size(); ++i) {
      EXPECT_EQ(again[p][i].kind, population()[p][i].kind);
      EXPECT_EQ(again[p][i].org, population()[p][i].org);
    }
    const auto& a = std::get<pv1::RegisterPatientRequest>(again[p][0].request);
    const auto& b = std::get<pv1::RegisterPatientRequest>(population()[p][0].request);
    EXPECT_NE(a.local_id(), b.local_id());
    if (a.demographics().phone() == b.demographics().phone()) ++same_names;
  }
  EXPECT_EQ(same_names, 0);
}

TEST_F(JourneyTest, EveryKindOfStepAndDuplicatesOccur) {
  std::map<StepKind, int> kinds;
  int withheld = 0, portal_grants = 0, hospital_grants = 0, inpatient = 0, partial = 0;
  for (const auto& journey : population()) {
    std::map<int, int> dispensings;
    for (const Step& s : journey) {
      ++kinds[s.kind];
      if (s.expect == Expect::kWithheld) ++withheld;
      if (s.kind == StepKind::kConsentGrant || s.kind == StepKind::kConsentRefuse) {
        ++(s.org == region_->portal ? portal_grants : hospital_grants);
      }
      if (s.kind == StepKind::kVisit &&
          std::get<rv1::Encounter>(s.request).encounter_class() == rv1::INPATIENT) {
        ++inpatient;
      }
      if (s.kind == StepKind::kDispense && ++dispensings[s.ref] == 2) ++partial;
    }
  }
  for (int k = 0; k < kStepKindCount; ++k) {
    EXPECT_GT(kinds[static_cast<StepKind>(k)], 0) << KindName(static_cast<StepKind>(k));
  }
  EXPECT_GT(kinds[StepKind::kRegisterDuplicate], 400 * 0.15);
  EXPECT_GT(withheld, 10);
  EXPECT_GT(portal_grants, 0);
  EXPECT_GT(hospital_grants, 0);
  EXPECT_GT(inpatient, 0);
  EXPECT_GT(partial, 0);
}

TEST_F(JourneyTest, EveryEntityExistsBeforeItIsUsed) {
  for (const auto& journey : population()) {
    ASSERT_FALSE(journey.empty());
    EXPECT_EQ(journey[0].kind, StepKind::kRegister);
    std::map<std::string, std::string> registered;  // org -> patient local ID (clean)
    std::map<std::string, std::string> copies;      // org -> local ID of a typo'd copy
    std::set<std::string> visited;
    std::map<int, const Step*> by_seq;
    std::map<std::pair<std::string, std::string>, std::string> referrals;  // -> to
    std::map<std::pair<std::string, std::string>, rv1::ReferralStatus> status;
    std::map<int, int64_t> dispensed;
    std::set<int> revoked;
    for (size_t i = 0; i < journey.size(); ++i) {
      const Step& s = journey[i];
      SCOPED_TRACE(absl::StrCat("patient ", s.patient, " step ", s.seq, " ", KindName(s.kind)));
      ASSERT_EQ(s.seq, static_cast<int>(i));
      auto patient_at = [&](const std::string& org) {
        auto it = registered.find(org);
        if (it != registered.end()) return it->second;
        auto c = copies.find(org);
        return c == copies.end() ? std::string() : c->second;
      };
      if (s.ref >= 0) {
        ASSERT_LT(s.ref, s.seq);
      }
      switch (s.kind) {
        case StepKind::kRegister: {
          const auto& r = std::get<pv1::RegisterPatientRequest>(s.request);
          EXPECT_FALSE(registered.contains(s.org));
          registered[s.org] = r.local_id();
          break;
        }
        case StepKind::kRegisterDuplicate:
          EXPECT_FALSE(registered.contains(s.org));
          EXPECT_FALSE(copies.contains(s.org));
          copies[s.org] = std::get<pv1::RegisterPatientRequest>(s.request).local_id();
          break;
        case StepKind::kVisit: {
          const auto& e = std::get<rv1::Encounter>(s.request);
          EXPECT_EQ(e.patient_local_id(), patient_at(s.org));
          if (registered.contains(s.org)) visited.insert(s.org);
          break;
        }
        case StepKind::kReferral: {
          const auto& r = std::get<rv1::Referral>(s.request);
          EXPECT_EQ(r.patient_local_id(), patient_at(s.org));
          EXPECT_NE(r.to_organisation_id(), s.org);
          referrals[{s.org, r.local_id()}] = r.to_organisation_id();
          break;
        }
        case StepKind::kReferralStatus: {
          const auto& u = std::get<rv1::UpdateReferralStatusRequest>(s.request);
          auto it = referrals.find({u.from_organisation_id(), u.local_id()});
          ASSERT_NE(it, referrals.end());
          EXPECT_EQ(it->second, s.org);  // the receiving institution answers
          EXPECT_TRUE(registered.contains(s.org));
          rv1::ReferralStatus& now = status[it->first];
          EXPECT_EQ(now, u.status() == rv1::ACCEPTED ? rv1::REFERRAL_STATUS_UNSPECIFIED
                                                     : rv1::ACCEPTED);
          now = u.status();
          break;
        }
        case StepKind::kPrescribe: {
          const auto& p = std::get<xv1::IssuePrescriptionRequest>(s.request).prescription();
          EXPECT_EQ(p.patient_local_id(), patient_at(s.org));
          EXPECT_TRUE(registered.contains(s.org));
          break;
        }
        case StepKind::kLookup:
        case StepKind::kDispense: {
          ASSERT_TRUE(by_seq.contains(s.ref));
          const Step& rx = *by_seq[s.ref];
          ASSERT_EQ(rx.kind, StepKind::kPrescribe);
          EXPECT_EQ(region_->type.at(s.org), ov1::PHARMACY);
          if (s.kind == StepKind::kDispense) {
            // Looked up at the same pharmacy just before.
            ASSERT_GT(i, 0u);
            EXPECT_EQ(journey[i - 1].kind, StepKind::kLookup);
            EXPECT_EQ(journey[i - 1].org, s.org);
            EXPECT_EQ(journey[i - 1].ref, s.ref);
            const auto& d = std::get<xv1::DispensePrescriptionRequest>(s.request);
            for (const auto& item : d.items()) dispensed[s.ref] += item.quantity();
            EXPECT_LE(dispensed[s.ref], std::get<xv1::IssuePrescriptionRequest>(rx.request)
                                            .prescription()
                                            .items(0)
                                            .quantity());
          }
          break;
        }
        case StepKind::kLabReport: {
          const auto& r = std::get<lv1::LabReport>(s.request);
          EXPECT_TRUE(registered.contains(r.patient_organisation_id()));
          EXPECT_EQ(r.patient_local_id(), registered[r.patient_organisation_id()]);
          if (s.org != r.patient_organisation_id()) {
            EXPECT_EQ(region_->type.at(s.org), ov1::LAB);
          }
          break;
        }
        case StepKind::kLabReuse: {
          ASSERT_TRUE(by_seq.contains(s.ref));
          const Step& report = *by_seq[s.ref];
          ASSERT_EQ(report.kind, StepKind::kLabReport);
          EXPECT_NE(report.org, s.org);
          EXPECT_TRUE(region_->IsAccredited(report.org));
          EXPECT_TRUE(registered.contains(s.org));
          const auto& codes = std::get<lv1::LabReport>(report.request).results();
          const auto& wanted = std::get<lv1::FindReusableResultsRequest>(s.request);
          ASSERT_GT(wanted.loinc_codes_size(), 0);
          EXPECT_EQ(wanted.loinc_codes(0), codes[0].loinc_code());
          break;
        }
        case StepKind::kConsentGrant:
        case StepKind::kConsentRefuse: {
          const auto& g = std::get<cv1::GrantRequest>(s.request);
          EXPECT_TRUE(g.directive().regional_id().empty());  // the runner knows it
          EXPECT_EQ(g.directive().effect(),
                    s.kind == StepKind::kConsentRefuse ? cv1::DENY : cv1::PERMIT);
          if (s.org == region_->portal) {
            EXPECT_TRUE(g.directive().form_reference().empty());
          } else {
            EXPECT_TRUE(registered.contains(s.org));
            EXPECT_FALSE(g.directive().form_reference().empty());
          }
          for (const std::string& id : g.directive().recipients().organisations().ids()) {
            EXPECT_TRUE(registered.contains(id));
          }
          break;
        }
        case StepKind::kConsentRevoke: {
          ASSERT_TRUE(by_seq.contains(s.ref));
          const Step& grant = *by_seq[s.ref];
          EXPECT_TRUE(grant.kind == StepKind::kConsentGrant ||
                      grant.kind == StepKind::kConsentRefuse);
          EXPECT_TRUE(s.org == region_->portal || s.org == grant.org);
          EXPECT_TRUE(revoked.insert(s.ref).second) << "revoked twice";
          break;
        }
        case StepKind::kRecordRead:
          EXPECT_TRUE(registered.contains(s.org));
          EXPECT_FALSE(s.shared_by.empty());
          for (const std::string& other : s.shared_by) {
            EXPECT_NE(other, s.org);
            EXPECT_TRUE(registered.contains(other)) << other;
            EXPECT_TRUE(visited.contains(other)) << other;
          }
          break;
      }
      by_seq[s.seq] = &s;
    }
  }
}

// The consent policy for what journeys record (named institutions or
// everyone; records only), evaluated independently of the generator.
TEST_F(JourneyTest, ExpectedRefusalsAreExactlyTheReadsAfterARefusalOrRevocation) {
  int withheld = 0, after_revocation = 0, permitted = 0;
  for (const auto& journey : population()) {
    struct Active {
      cv1::Effect effect;
      std::string to;  // "" everyone
    };
    std::map<int, Active> active;
    bool refused_before = false;
    bool revoked_last = false;
    for (const Step& s : journey) {
      if (s.kind == StepKind::kConsentGrant || s.kind == StepKind::kConsentRefuse) {
        const cv1::Directive& d = std::get<cv1::GrantRequest>(s.request).directive();
        ASSERT_THAT(d.categories(), ::testing::ElementsAre(cv1::RECORDS));
        const auto& ids = d.recipients().organisations().ids();
        active[s.seq] = {d.effect(), ids.empty() ? "" : ids[0]};
        if (d.effect() == cv1::DENY) refused_before = true;
        revoked_last = false;
      } else if (s.kind == StepKind::kConsentRevoke) {
        active.erase(s.ref);
        revoked_last = true;
      } else if (s.kind == StepKind::kRecordRead) {
        bool named = false, named_deny = false, everyone = false, everyone_deny = false;
        for (const auto& [seq, a] : active) {
          if (a.to == s.org) {
            named = true;
            named_deny |= a.effect == cv1::DENY;
          } else if (a.to.empty()) {
            everyone = true;
            everyone_deny |= a.effect == cv1::DENY;
          }
        }
        const bool denied = named ? named_deny : everyone && everyone_deny;
        EXPECT_EQ(s.expect, denied ? Expect::kWithheld : Expect::kOk)
            << "patient " << s.patient << " step " << s.seq;
        if (denied) {
          EXPECT_TRUE(refused_before);
          ++withheld;
          if (revoked_last) ++after_revocation;
        } else {
          ++permitted;
        }
      }
    }
  }
  EXPECT_GT(withheld, 0);
  EXPECT_GT(after_revocation, 0);  // a named permit revoked under a general refusal
  EXPECT_GT(permitted, withheld);
}

TEST_F(JourneyTest, RequestsPassTheServicesOwnValidation) {
  absl::StatusOr<prescriptions::Formulary> formulary =
      prescriptions::Formulary::LoadDir(MERIDIAN_FORMULARY_DIR);
  ASSERT_TRUE(formulary.ok()) << formulary.status();
  absl::StatusOr<labs::ReferenceTable> reference =
      labs::ReferenceTable::LoadDir(MERIDIAN_REFERENCE_DIR);
  ASSERT_TRUE(reference.ok()) << reference.status();
  const std::string today = absl::FormatTime("%Y%m%d", kNow, absl::UTCTimeZone());
  std::map<std::string, xv1::PrescriptionItem> items;  // by drug code
  int critical = 0;
  for (const auto& journey : population()) {
    absl::Time last = absl::InfinitePast();
    for (const Step& s : journey) {
      SCOPED_TRACE(absl::StrCat("patient ", s.patient, " step ", s.seq, " ", KindName(s.kind)));
      switch (s.kind) {
        case StepKind::kRegister:
        case StepKind::kRegisterDuplicate: {
          const auto& r = std::get<pv1::RegisterPatientRequest>(s.request);
          EXPECT_TRUE(patient::PrepareRegistration(r, today).ok())
              << patient::PrepareRegistration(r, today).status();
          break;
        }
        case StepKind::kVisit: {
          const auto& e = std::get<rv1::Encounter>(s.request);
          EXPECT_TRUE(records::ValidateEncounter(e, kNow).ok())
              << records::ValidateEncounter(e, kNow);
          const absl::Time t = timestamps::FromProto(e.start_time());
          EXPECT_GE(t, last);  // a journey moves forward
          last = t;
          break;
        }
        case StepKind::kReferral: {
          const auto& r = std::get<rv1::Referral>(s.request);
          EXPECT_TRUE(records::ValidateReferral(r, s.org, *directory_, kNow).ok())
              << records::ValidateReferral(r, s.org, *directory_, kNow);
          break;
        }
        case StepKind::kPrescribe: {
          const auto& p = std::get<xv1::IssuePrescriptionRequest>(s.request).prescription();
          EXPECT_TRUE(fields::IsValidLocalId(p.local_id()));
          ASSERT_GT(p.diagnosis_icd10_size(), 0);
          for (const std::string& code : p.diagnosis_icd10()) {
            EXPECT_TRUE(fields::IsIcd10Code(code)) << code;
          }
          EXPECT_LE(timestamps::FromProto(p.issued_at()), kNow);
          // Still dispensable when the journey ends.
          EXPECT_GT(timestamps::FromProto(p.issued_at()) + absl::Hours(24 * p.validity_days()),
                    kNow + absl::Hours(24));
          for (const auto& item : p.items()) {
            const prescriptions::Drug* drug = formulary->Find(item.drug_code());
            ASSERT_NE(drug, nullptr) << item.drug_code();
            EXPECT_TRUE(prescriptions::DailyDose(*drug, item).ok()) << item.drug_code();
            EXPECT_GE(item.quantity(), 1);
            items[item.drug_code()] = item;
          }
          break;
        }
        case StepKind::kLabReport: {
          const auto& r = std::get<lv1::LabReport>(s.request);
          EXPECT_TRUE(fields::IsValidLocalId(r.local_id()));
          if (!r.panel_loinc_code().empty()) {
            EXPECT_TRUE(labs::IsLoincCode(r.panel_loinc_code())) << r.panel_loinc_code();
          }
          for (const auto& res : r.results()) {
            ASSERT_TRUE(labs::IsLoincCode(res.loinc_code())) << res.loinc_code();
            const labs::Analyte* a = reference->Find(res.loinc_code());
            ASSERT_NE(a, nullptr) << res.loinc_code();
            EXPECT_THAT(a->units, ::testing::Contains(res.unit())) << res.loinc_code();
            EXPECT_TRUE(res.has_numeric());
            EXPECT_LE(timestamps::FromProto(res.collected_at()),
                      timestamps::FromProto(res.reported_at()));
            EXPECT_LE(timestamps::FromProto(res.reported_at()), kNow);
            const auto canonical = labs::ConvertUnit(res.numeric(), res.unit(),
                                                     a->canonical_unit, a->molar_mass);
            ASSERT_TRUE(canonical.has_value());
            const labs::ReferenceInterval* range = reference->IntervalFor(
                res.loinc_code(), r.patient_sex(), std::nullopt);
            if (range != nullptr && range->critical_high && *canonical > *range->critical_high) {
              ++critical;
            }
          }
          break;
        }
        default:
          break;
      }
    }
  }
  // Whatever a patient is already taking, no regimen is refused by the
  // safety checks or above the maximum dose.
  ASSERT_GT(items.size(), 10u);
  std::vector<prescriptions::ActiveDrug> everything;
  for (const auto& [code, item] : items) everything.push_back({code, true});
  for (const auto& [code, item] : items) {
    google::protobuf::RepeatedPtrField<xv1::PrescriptionItem> one;
    *one.Add() = item;
    for (const xv1::SafetyFinding& f : prescriptions::CheckSafety(*formulary, one, everything)) {
      EXPECT_NE(f.severity(), xv1::CONTRAINDICATED) << f.message();
      EXPECT_NE(f.kind(), xv1::DOSE_ABOVE_MAXIMUM) << f.message();
    }
  }
  EXPECT_LT(critical, 40);  // plausible values: critical results are rare
}

TEST_F(JourneyTest, TyposKeepARegistrationValidAndChangeIt) {
  std::mt19937_64 rng(7);
  const std::string today = absl::FormatTime("%Y%m%d", kNow, absl::UTCTimeZone());
  int changed = 0;
  for (int p = 0; p < 200; ++p) {
    PatientJourney journey(region_, options_, p);
    const Person copy = WithTypos(journey.person(), rng, kNow);
    const auto request = copy.AsRequest("X-1");
    EXPECT_TRUE(patient::PrepareRegistration(request, today).ok());
    if (request.SerializeAsString() != journey.person().AsRequest("X-1").SerializeAsString()) {
      ++changed;
    }
  }
  EXPECT_GT(changed, 150);
}

TEST_F(JourneyTest, ASwappedBirthDateIsNeverInTheFuture) {
  // Born 12 March this year (kNow: 15 June): day and month swapped would be
  // 3 December, after today, which the platform refuses (CI, 2026-12-05).
  PatientJourney journey(region_, options_, 0);
  Person baby = journey.person();
  baby.birth_date = "20250312";
  baby.resident_id.clear();  // it would carry the journey's own birth date
  const std::string today = absl::FormatTime("%Y%m%d", kNow, absl::UTCTimeZone());
  std::mt19937_64 rng(11);
  for (int i = 0; i < 300; ++i) {
    const Person copy = WithTypos(baby, rng, kNow);
    EXPECT_LE(copy.birth_date, today);
    EXPECT_TRUE(patient::PrepareRegistration(copy.AsRequest("X-1"), today).ok());
  }
  // An earlier swap is still made.
  baby.birth_date = "20250603";
  int swapped = 0;
  for (int i = 0; i < 300; ++i) swapped += WithTypos(baby, rng, kNow).birth_date == "20250306";
  EXPECT_GT(swapped, 0);
}

TEST(RecordsPermittedTest, FollowsTheConsentPolicy) {
  Region region;
  region.type = {{"city", ov1::TERTIARY_HOSPITAL}, {"county", ov1::SECONDARY_HOSPITAL}};
  auto directive = [](cv1::Effect effect, const std::string& to) {
    cv1::Directive d;
    d.set_effect(effect);
    d.add_categories(cv1::RECORDS);
    if (to.empty()) {
      d.mutable_recipients()->set_everyone(true);
    } else {
      d.mutable_recipients()->mutable_organisations()->add_ids(to);
    }
    return d;
  };
  const cv1::Directive deny_all = directive(cv1::DENY, "");
  const cv1::Directive allow_city = directive(cv1::PERMIT, "city");
  const cv1::Directive deny_city = directive(cv1::DENY, "city");
  cv1::Directive deny_hospitals;
  deny_hospitals.set_effect(cv1::DENY);
  deny_hospitals.mutable_recipients()->mutable_organisation_types()->add_types(
      ov1::SECONDARY_HOSPITAL);
  cv1::Directive labs_only = directive(cv1::DENY, "");
  labs_only.clear_categories();
  labs_only.add_categories(cv1::LABS);

  EXPECT_TRUE(RecordsPermitted(region, "city", {}, kNow));  // the regional default
  EXPECT_FALSE(RecordsPermitted(region, "city", {deny_all}, kNow));
  EXPECT_TRUE(RecordsPermitted(region, "city", {deny_all, allow_city}, kNow));
  EXPECT_FALSE(RecordsPermitted(region, "county", {deny_all, allow_city}, kNow));
  EXPECT_FALSE(RecordsPermitted(region, "city", {allow_city, deny_city}, kNow));
  EXPECT_FALSE(RecordsPermitted(region, "county", {deny_hospitals}, kNow));
  EXPECT_TRUE(RecordsPermitted(region, "city", {deny_hospitals}, kNow));
  EXPECT_TRUE(RecordsPermitted(region, "city", {labs_only}, kNow));
}

}  // namespace
}  // namespace meridian::region
