// The lab-results logic over the in-memory stores.
#include "services/lab-results/labs.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/audit/audit.h"
#include "libs/consent/testing.h"
#include "libs/ids/uuid.h"
#include "libs/status/status_matchers.h"
#include "libs/timestamps/timestamps.h"
#include "services/lab-results/in_memory_lab_store.h"

namespace meridian::labs {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::DoubleNear;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kNow =
    absl::FromCivil(absl::CivilSecond(2026, 6, 1, 9, 0, 0), absl::UTCTimeZone());

orgs::Directory TestDirectory() {
  return *orgs::Directory::FromText(R"pb(
    organisation { id: "city-hosp-1" name: "City" type: TERTIARY_HOSPITAL district_code: "330102" lab_accredited: true }
    organisation { id: "county-hosp-east" name: "County" type: SECONDARY_HOSPITAL district_code: "330110" }
    organisation { id: "thc-riverside" name: "Centre" type: TOWNSHIP_HEALTH_CENTRE district_code: "330110" }
    organisation { id: "lab-regional" name: "Lab" type: LAB district_code: "330105" lab_accredited: true }
  )pb");
}

v1::LabResult Numeric(const std::string& loinc, double value, const std::string& unit,
                      absl::Duration ago = absl::Hours(2)) {
  v1::LabResult r;
  r.set_loinc_code(loinc);
  r.set_numeric(value);
  r.set_unit(unit);
  r.set_status(v1::FINAL);
  r.set_specimen("serum");
  *r.mutable_collected_at() = timestamps::ToProto(kNow - ago);
  *r.mutable_reported_at() = timestamps::ToProto(kNow - ago + absl::Hours(1));
  return r;
}

// A report for a 46-year-old woman registered at `patient_org` as
// `patient`.
v1::LabReport Report(const std::string& local_id, const std::string& patient_org,
                     const std::string& patient, std::vector<v1::LabResult> results) {
  v1::LabReport r;
  r.set_local_id(local_id);
  r.set_patient_organisation_id(patient_org);
  r.set_patient_local_id(patient);
  r.set_patient_sex(v1::FEMALE);
  r.set_patient_birth_date("1980-03-15");
  r.set_ordering_organisation_id(patient_org);
  r.set_ordering_clinician("DR-5");
  for (auto& x : results) *r.add_results() = x;
  return r;
}

class LabsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    table_ = new ReferenceTable(*ReferenceTable::LoadDir(MERIDIAN_REFERENCE_DIR));
  }

  void Link(const std::string& org, const std::string& local) {
    ASSERT_OK(xrefs_.Apply("test", ids::NewUuid(),
                           {{{org, local}, patient_, absl::FromUnixSeconds(1)}}));
  }

  v1::PushResult Push(const std::string& org, const v1::LabReport& r) {
    absl::StatusOr<v1::PushResult> out = labs_.Push(org, r);
    EXPECT_OK(out);
    return out.ok() ? *out : v1::PushResult();
  }

  consent::Accessor As(const std::string& org) { return {org, orgs::Role::kCare, "req-9"}; }

  std::vector<std::string> EventTypes(const std::string& topic = kLabsTopic) {
    std::vector<std::string> out;
    for (const auto& e : store_.events()) {
      if (e.topic == topic) out.push_back(e.envelope.type());
    }
    return out;
  }

  audit::v1::AccessRecorded LastAudit() {
    audit::v1::AccessRecorded a;
    for (const auto& e : store_.events()) {
      if (e.topic == audit::kAuditTopic) EXPECT_TRUE(e.envelope.payload().UnpackTo(&a));
    }
    return a;
  }

  static ReferenceTable* table_;
  const std::string patient_ = ids::NewUuid();
  orgs::Directory directory_ = TestDirectory();
  InMemoryLabStore store_;
  xref::InMemoryXrefStore xrefs_;
  consent::testing::FakeChecker consent_;
  Labs labs_{&store_, &xrefs_, &consent_, &directory_, table_,
             LabsOptions{.clock = [] { return kNow; }}};
};
ReferenceTable* LabsTest::table_ = nullptr;

TEST_F(LabsTest, FlagsAreComputedWhereTheLabSentNoneAndCriticalValuesRaiseEvents) {
  Link("city-hosp-1", "P-1");
  v1::LabResult own_range = Numeric("2951-2", 133, "mmol/L");  // sodium
  own_range.mutable_reference_range()->set_low(135);
  own_range.mutable_reference_range()->set_high(145);
  v1::LabResult lab_flag = Numeric("2160-0", 70, "umol/L");  // creatinine
  lab_flag.set_flag(v1::HIGH);
  v1::LabResult hbsag;
  hbsag.set_loinc_code("5196-1");
  hbsag.mutable_coded()->set_system("http://snomed.info/sct");
  hbsag.mutable_coded()->set_code("260385009");
  hbsag.mutable_coded()->set_display("Negative");
  hbsag.set_status(v1::FINAL);
  *hbsag.mutable_collected_at() = timestamps::ToProto(kNow - absl::Hours(2));
  *hbsag.mutable_reported_at() = timestamps::ToProto(kNow - absl::Hours(1));
  v1::LabReport report =
      Report("ORD-1", "city-hosp-1", "P-1",
             {Numeric("2345-7", 162, "mg/dL"),  // glucose 8.99 mmol/L: above 7.8
              Numeric("2823-3", 7.0, "mmol/L"), // potassium: critical above 6.2
              own_range, lab_flag, hbsag});
  v1::PushResult first = Push("lab-regional", report);
  EXPECT_EQ(first.outcome(), v1::CREATED);
  EXPECT_EQ(first.version(), 1);
  EXPECT_THAT(first.flags(), ElementsAre(v1::HIGH, v1::CRITICAL_HIGH, v1::LOW, v1::HIGH,
                                         v1::FLAG_UNSPECIFIED));
  EXPECT_EQ(first.critical(), 1);
  EXPECT_THAT(EventTypes(), ElementsAre("lab.reported", "lab.critical"));

  ASSERT_OK_AND_ASSIGN(auto stored, store_.Get("lab-regional", "ORD-1"));
  v1::LabReport kept;
  ASSERT_TRUE(kept.ParseFromString(stored->row.body));
  EXPECT_EQ(kept.organisation_id(), "lab-regional");
  EXPECT_THAT(kept.results(0).canonical_value(), DoubleNear(8.99, 0.01));
  EXPECT_EQ(kept.results(0).canonical_unit(), "mmol/L");
  EXPECT_EQ(kept.results(0).flag_source(), v1::REFERENCE_TABLE);
  EXPECT_EQ(kept.results(2).flag_source(), v1::RESULT_RANGE);
  EXPECT_EQ(kept.results(3).flag_source(), v1::LABORATORY);
  EXPECT_EQ(kept.results(4).flag_source(), v1::NOT_FLAGGED);
  v1::CriticalResult critical;
  ASSERT_TRUE(store_.events()[1].envelope.payload().UnpackTo(&critical));
  EXPECT_EQ(critical.result().loinc_code(), "2823-3");
  EXPECT_EQ(critical.ordering_clinician(), "DR-5");
  EXPECT_EQ(store_.events()[1].envelope.regional_patient_id(), patient_);
  EXPECT_EQ(store_.events()[1].envelope.key(), "city-hosp-1/P-1");

  // The same again changes nothing; a correction is version 2 and is still
  // critical; the history keeps both.
  EXPECT_EQ(Push("lab-regional", report).outcome(), v1::UNCHANGED);
  report.mutable_results(1)->set_numeric(6.8);
  report.mutable_results(1)->set_status(v1::CORRECTED);
  v1::PushResult corrected = Push("lab-regional", report);
  EXPECT_EQ(corrected.outcome(), v1::UPDATED);
  EXPECT_EQ(corrected.version(), 2);
  EXPECT_THAT(EventTypes(), ElementsAre("lab.reported", "lab.critical", "lab.corrected",
                                        "lab.critical"));
  v1::GetReportHistoryRequest h;
  h.set_local_id("ORD-1");
  ASSERT_OK_AND_ASSIGN(auto history, labs_.GetReportHistory("lab-regional", h));
  ASSERT_EQ(history.versions_size(), 2);
  EXPECT_EQ(history.versions(0).report().results(1).numeric(), 7.0);
  EXPECT_EQ(history.versions(1).report().results(1).numeric(), 6.8);
  EXPECT_THAT(labs_.GetReportHistory("county-hosp-east", h),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LabsTest, ACriticalValueIsCriticalWhateverTheLabFlagged) {
  v1::LabResult k = Numeric("2823-3", 7.5, "mmol/L");  // potassium above 6.2
  k.set_flag(v1::HIGH);
  v1::PushResult r = Push("lab-regional", Report("ORD-K", "city-hosp-1", "P-1", {k}));
  EXPECT_EQ(r.critical(), 1);
  EXPECT_THAT(r.flags(), ElementsAre(v1::CRITICAL_HIGH));
  EXPECT_THAT(EventTypes(), ElementsAre("lab.reported", "lab.critical"));
  // A flag the lab sent is otherwise kept as sent.
  v1::LabResult n = Numeric("2823-3", 4.0, "mmol/L");
  n.set_flag(v1::LOW);
  EXPECT_THAT(Push("lab-regional", Report("ORD-N", "city-hosp-1", "P-1", {n})).flags(),
              ElementsAre(v1::LOW));
}

TEST_F(LabsTest, AgeAndSexChooseTheBandAndUnknownCodesKeepTheirOwnRange) {
  // Haemoglobin 125 g/L (12.5 g/dL): normal for a woman, low for a man.
  v1::LabReport woman = Report("ORD-W", "city-hosp-1", "P-1", {Numeric("718-7", 12.5, "g/dL")});
  EXPECT_THAT(Push("city-hosp-1", woman).flags(), ElementsAre(v1::NORMAL));
  v1::LabReport man = woman;
  man.set_local_id("ORD-M");
  man.set_patient_sex(v1::MALE);
  EXPECT_THAT(Push("city-hosp-1", man).flags(), ElementsAre(v1::LOW));
  // No birth date: adult bands do not apply, nothing is flagged.
  v1::LabReport ageless = woman;
  ageless.set_local_id("ORD-A");
  ageless.clear_patient_birth_date();
  EXPECT_THAT(Push("city-hosp-1", ageless).flags(), ElementsAre(v1::FLAG_UNSPECIFIED));
  // A valid LOINC code the table does not know: its own range, no
  // normalisation.
  v1::LabResult odd = Numeric("10000-8", 12, "arb'U");
  odd.mutable_reference_range()->set_high(10);
  v1::LabReport unknown = Report("ORD-U", "city-hosp-1", "P-1", {odd});
  EXPECT_THAT(Push("city-hosp-1", unknown).flags(), ElementsAre(v1::HIGH));
}

TEST_F(LabsTest, BadInputIsRefusedNamingTheFieldAndStoresNothing) {
  struct Case {
    std::string name;
    std::function<void(v1::LabReport*)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"LOINC check digit", [](auto* r) { r->mutable_results(0)->set_loinc_code("2345-6"); },
       "results[0].loinc_code"},
      {"LOINC syntax", [](auto* r) { r->mutable_results(0)->set_loinc_code("GLU"); },
       "results[0].loinc_code"},
      {"unit not convertible", [](auto* r) { r->mutable_results(0)->set_unit("U/L"); },
       "results[0].unit"},
      {"no unit", [](auto* r) { r->mutable_results(0)->clear_unit(); }, "results[0].unit"},
      {"reported before collected",
       [](auto* r) {
         *r->mutable_results(0)->mutable_reported_at() =
             timestamps::ToProto(kNow - absl::Hours(5));
       },
       "results[0].reported_at"},
      {"text for a numeric test", [](auto* r) { r->mutable_results(0)->set_text("high"); },
       "results[0].value"},
      {"not a number",
       [](auto* r) { r->mutable_results(0)->set_numeric(std::nan("")); },
       "results[0].numeric"},
      {"no value", [](auto* r) { r->mutable_results(0)->clear_value(); }, "results[0].value"},
      {"collected in the future",
       [](auto* r) {
         *r->mutable_results(0)->mutable_collected_at() = timestamps::ToProto(kNow + absl::Hours(3));
         *r->mutable_results(0)->mutable_reported_at() = timestamps::ToProto(kNow + absl::Hours(4));
       },
       "results[0].collected_at"},
      {"the same code twice", [](auto* r) { *r->add_results() = r->results(0); },
       "results[1].loinc_code"},
      {"no results", [](auto* r) { r->clear_results(); }, "results"},
      {"unknown patient institution",
       [](auto* r) { r->set_patient_organisation_id("nowhere"); }, "patient_organisation_id"},
      {"bad birth date", [](auto* r) { r->set_patient_birth_date("1980-02-30"); },
       "patient_birth_date"},
      {"range upside down",
       [](auto* r) {
         r->mutable_results(0)->mutable_reference_range()->set_low(9);
         r->mutable_results(0)->mutable_reference_range()->set_high(3);
       },
       "results[0].reference_range"},
      {"no status", [](auto* r) { r->mutable_results(0)->clear_status(); }, "results[0].status"},
      {"malformed local id", [](auto* r) { r->set_local_id("has space"); }, "local_id"},
  };
  for (const Case& c : cases) {
    v1::LabReport r = Report("ORD-BAD", "city-hosp-1", "P-1", {Numeric("2345-7", 5.2, "mmol/L")});
    c.mutate(&r);
    EXPECT_THAT(labs_.Push("lab-regional", r),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(c.field), Not(HasSubstr("P-1")))))
        << c.name;
  }
  EXPECT_THAT(store_.events(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto none, store_.Get("lab-regional", "ORD-BAD"));
  EXPECT_FALSE(none.has_value());
}

TEST_F(LabsTest, ReadsFollowConsentSeriesAreNormalisedAndEverythingIsAudited) {
  Link("city-hosp-1", "P-1");
  Link("county-hosp-east", "E-1");
  // Glucose over time from three places and in two units.
  Push("lab-regional", Report("R-1", "city-hosp-1", "P-1",
                              {Numeric("2345-7", 99, "mg/dL", absl::Hours(24 * 30))}));
  Push("county-hosp-east", Report("C-1", "county-hosp-east", "E-1",
                                  {Numeric("2345-7", 7.1, "mmol/L", absl::Hours(24 * 10))}));
  Push("city-hosp-1", Report("H-1", "city-hosp-1", "P-1",
                             {Numeric("2345-7", 8.2, "mmol/L", absl::Hours(24))}));
  v1::LabResult cancelled = Numeric("2345-7", 0, "mmol/L", absl::Hours(5));
  cancelled.set_status(v1::CANCELLED);
  cancelled.clear_value();
  Push("city-hosp-1", Report("H-2", "city-hosp-1", "P-1", {cancelled}));

  // Without consent: the city's own (including what the regional lab did
  // for it), not the county's.
  v1::GetPatientResultsRequest read;
  read.set_regional_id(patient_);
  ASSERT_OK_AND_ASSIGN(auto own, labs_.GetPatientResults(As("city-hosp-1"), read));
  std::vector<std::string> ids;
  for (const auto& r : own.reports()) ids.push_back(r.local_id());
  EXPECT_THAT(ids, ElementsAre("H-2", "H-1", "R-1"));
  EXPECT_FALSE(own.withheld_reason().empty());
  EXPECT_EQ(LastAudit().operation(), "GetPatientResults");
  EXPECT_EQ(LastAudit().items_returned(), 3);

  consent_.Permit(consent::v1::LABS);
  v1::GetSeriesRequest series;
  series.set_regional_id(patient_);
  series.set_loinc_code("2345-7");
  ASSERT_OK_AND_ASSIGN(auto s, labs_.GetSeries(As("city-hosp-1"), series));
  EXPECT_EQ(s.unit(), "mmol/L");
  ASSERT_EQ(s.points_size(), 3);  // the cancelled one left out
  EXPECT_THAT(s.points(0).value(), DoubleNear(5.49, 0.01));
  EXPECT_EQ(s.points(0).organisation_id(), "lab-regional");
  EXPECT_EQ(s.points(1).value(), 7.1);
  EXPECT_EQ(s.points(2).value(), 8.2);
  EXPECT_EQ(LastAudit().operation(), "GetSeries");
  EXPECT_THAT(LastAudit().disclosed_organisations(),
              ElementsAre("city-hosp-1", "county-hosp-east", "lab-regional"));

  series.set_loinc_code("5196-1");  // coded: no series
  EXPECT_THAT(labs_.GetSeries(As("city-hosp-1"), series),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("loinc_code")));
  // Pages.
  read.set_page_size(2);
  ASSERT_OK_AND_ASSIGN(auto page1, labs_.GetPatientResults(As("city-hosp-1"), read));
  ASSERT_EQ(page1.reports_size(), 2);
  read.set_page_token(page1.next_page_token());
  ASSERT_OK_AND_ASSIGN(auto page2, labs_.GetPatientResults(As("city-hosp-1"), read));
  ASSERT_EQ(page2.reports_size(), 2);
  EXPECT_EQ(page2.reports(1).local_id(), "R-1");
  // Fails closed when consent cannot be asked.
  consent_.fail_with = absl::UnavailableError("consent down");
  EXPECT_THAT(labs_.GetPatientResults(As("city-hosp-1"), read),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(LabsTest, ReusableResultsComeFromAccreditedLabsAndAreCounted) {
  Link("thc-riverside", "T-1");
  Link("county-hosp-east", "E-1");
  consent_.Permit(consent::v1::LABS);
  // HbA1c from the accredited regional lab 20 days ago; creatinine from the
  // (not accredited) county hospital yesterday; a preliminary potassium.
  Push("lab-regional", Report("R-7", "thc-riverside", "T-1",
                              {Numeric("4548-4", 6.1, "%", absl::Hours(24 * 20))}));
  Push("county-hosp-east", Report("C-7", "county-hosp-east", "E-1",
                                  {Numeric("2160-0", 80, "umol/L", absl::Hours(24))}));
  v1::LabResult prelim = Numeric("2823-3", 4.1, "mmol/L", absl::Hours(3));
  prelim.set_status(v1::PRELIMINARY);
  Push("lab-regional", Report("R-8", "thc-riverside", "T-1", {prelim}));

  v1::FindReusableResultsRequest find;
  find.set_regional_id(patient_);
  for (const char* code : {"4548-4", "2160-0", "2823-3"}) find.add_loinc_codes(code);
  find.set_max_age_hours(24 * 30);
  ASSERT_OK_AND_ASSIGN(auto found, labs_.FindReusableResults(As("city-hosp-1"), find));
  ASSERT_EQ(found.results_size(), 1);
  EXPECT_EQ(found.results(0).organisation_id(), "lab-regional");
  EXPECT_EQ(found.results(0).result().loinc_code(), "4548-4");
  EXPECT_THAT(found.not_found(), ElementsAre("2160-0", "2823-3"));
  EXPECT_THAT(EventTypes(), Contains("lab.reused"));
  v1::ResultReused reused;
  for (const auto& e : store_.events()) {
    if (e.envelope.type() == "lab.reused") ASSERT_TRUE(e.envelope.payload().UnpackTo(&reused));
  }
  EXPECT_EQ(reused.performing_organisation_id(), "lab-regional");
  EXPECT_EQ(reused.reusing_organisation_id(), "city-hosp-1");
  EXPECT_EQ(LastAudit().operation(), "FindReusableResults");

  // Too old for a 7-day window; without consent nothing of others.
  find.set_max_age_hours(24 * 7);
  ASSERT_OK_AND_ASSIGN(auto recent, labs_.FindReusableResults(As("city-hosp-1"), find));
  EXPECT_THAT(recent.results(), IsEmpty());
  consent_.decisions.clear();
  find.set_max_age_hours(24 * 30);
  ASSERT_OK_AND_ASSIGN(auto refused, labs_.FindReusableResults(As("city-hosp-1"), find));
  EXPECT_THAT(refused.results(), IsEmpty());
  EXPECT_FALSE(refused.withheld_reason().empty());
  find.set_max_age_hours(0);
  EXPECT_THAT(labs_.FindReusableResults(As("city-hosp-1"), find),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_age_hours")));
}

}  // namespace
}  // namespace meridian::labs
