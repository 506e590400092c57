#include "tools/fhir/fhir_import.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/timestamps/timestamps.h"

namespace meridian::fhir {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> ExampleFiles() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(MERIDIAN_FHIR_EXAMPLES)) {
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Plan PlanOf(const std::vector<std::pair<std::string, std::string>>& files,
            Options options = {.institution_id = "city-hosp-1"}) {
  Importer importer(options);
  for (const auto& [name, text] : files) importer.AddFile(name, text);
  return importer.Build();
}

Plan PlanOfExample(const std::string& name) {
  return PlanOf({{name, Read(std::string(MERIDIAN_FHIR_EXAMPLES) + "/" + name)}});
}

// Every resource read is exactly one of: a request, merged, not taken, an error.
void ExpectAccounted(const Plan& plan, const std::string& what) {
  EXPECT_EQ(plan.actions.size() + plan.merged.size() + plan.not_taken.size() +
                plan.errors.size(),
            static_cast<size_t>(plan.resources))
      << what;
}

template <typename T>
std::vector<const T*> RequestsOf(const Plan& plan) {
  std::vector<const T*> out;
  for (const Action& a : plan.actions) {
    if (const T* r = std::get_if<T>(&a.request)) out.push_back(r);
  }
  return out;
}

TEST(FhirImport, EveryExampleFileIsAccountedForAndNoneIsInError) {
  std::vector<std::pair<std::string, std::string>> all;
  for (const std::string& path : ExampleFiles()) {
    const std::string name = std::filesystem::path(path).filename();
    Plan plan = PlanOf({{name, Read(path)}});
    EXPECT_GT(plan.resources, 0) << name;
    ExpectAccounted(plan, name);
    EXPECT_THAT(plan.errors, IsEmpty()) << name << ": " << plan.errors[0].text;
    for (const Outcome& o : plan.not_taken) EXPECT_FALSE(o.text.empty()) << name;
    all.push_back({name, Read(path)});
  }
  ASSERT_THAT(all, SizeIs(25));
  // All at once: references across files resolve; a Patient read in several
  // files (the message bundles and Patient-pat1.json) is sent as updates.
  Plan plan = PlanOf(all);
  ExpectAccounted(plan, "all files");
  EXPECT_THAT(plan.errors, IsEmpty());
  EXPECT_EQ(plan.resources, 61);
  EXPECT_THAT(RequestsOf<patient::v1::RegisterPatientRequest>(plan), SizeIs(28));
  // Patients go first: the other requests name them.
  for (size_t i = 0; i < 28; ++i) EXPECT_EQ(RequestName(plan.actions[i].request), "RegisterPatient");
}

TEST(FhirImport, PatientDemographicsAndWhatIsLeftOut) {
  Plan plan = PlanOfExample("Patient-example.json");
  ASSERT_THAT(plan.actions, SizeIs(1));
  const auto& req = std::get<patient::v1::RegisterPatientRequest>(plan.actions[0].request);
  EXPECT_EQ(req.local_id(), "example");
  EXPECT_EQ(req.demographics().family_name(), "Chalmers");
  EXPECT_EQ(req.demographics().given_name(), "Peter James");
  EXPECT_EQ(req.demographics().sex(), patient::v1::SEX_MALE);
  EXPECT_EQ(req.demographics().birth_date(), "1974-12-25");
  EXPECT_EQ(req.demographics().phone(), "(03) 5555 6473");
  EXPECT_EQ(req.demographics().address().postcode(), "3999");
  EXPECT_THAT(req.identifiers(), IsEmpty());  // a hospital MRN: not a matching identifier
  EXPECT_THAT(plan.actions[0].notes,
              ElementsAre(HasSubstr("division codes"), HasSubstr("not a type the index")));
}

TEST(FhirImport, LabPanelWithItsObservationsMerged) {
  Plan plan = PlanOfExample("Bundle-lipids.json");
  ExpectAccounted(plan, "lipids");
  ASSERT_THAT(plan.actions, SizeIs(1));
  EXPECT_THAT(plan.merged, SizeIs(4));
  const auto& r = std::get<labs::v1::LabReport>(plan.actions[0].request);
  EXPECT_EQ(r.local_id(), "lipids");
  EXPECT_EQ(r.patient_local_id(), "pat2");
  EXPECT_EQ(r.patient_organisation_id(), "city-hosp-1");
  EXPECT_EQ(r.panel_loinc_code(), "24331-1");
  ASSERT_THAT(r.results(), SizeIs(4));
  EXPECT_EQ(r.results(0).loinc_code(), "35200-5");
  EXPECT_EQ(r.results(0).unit(), "mmol/L");
  EXPECT_DOUBLE_EQ(r.results(0).numeric(), 6.3);
  EXPECT_EQ(r.results(0).status(), labs::v1::FINAL);
  // Timed by the report: effectiveDateTime 2011-03-04T08:30:00+11:00.
  EXPECT_EQ(timestamps::FromProto(r.results(2).collected_at()),
            absl::FromCivil(absl::CivilSecond(2011, 3, 3, 21, 30, 0), absl::UTCTimeZone()));
  EXPECT_TRUE(r.results(3).has_reported_at());
}

TEST(FhirImport, VitalSignsAreNotTakenAndSaySo) {
  Plan plan = PlanOfExample("Observation-blood-pressure.json");
  ASSERT_THAT(plan.not_taken, SizeIs(1));
  EXPECT_THAT(plan.not_taken[0].text, HasSubstr("vital-signs"));
  EXPECT_EQ(plan.not_taken[0].at.ToString(),
            "Observation-blood-pressure.json (Observation/blood-pressure)");
  // A LOINC-coded Observation without a category is a laboratory result.
  Plan glucose = PlanOfExample("Observation-f001.json");
  ASSERT_THAT(RequestsOf<labs::v1::LabReport>(glucose), SizeIs(1));
  EXPECT_EQ(RequestsOf<labs::v1::LabReport>(glucose)[0]->results(0).loinc_code(), "15074-8");
}

TEST(FhirImport, ImagingReportBecomesAClinicalDocument) {
  Plan plan = PlanOfExample("DiagnosticReport-f201.json");
  ASSERT_THAT(plan.actions, SizeIs(1));
  const auto& doc = std::get<records::v1::ClinicalDocument>(plan.actions[0].request);
  EXPECT_EQ(doc.document_type(), records::v1::IMAGING_REPORT);
  EXPECT_EQ(doc.title(), "CT of head-neck");
  EXPECT_EQ(doc.patient_local_id(), "f201");
  EXPECT_FALSE(doc.text().empty());
}

TEST(FhirImport, ConsentCarriesTheResourceAndTheOrganisationMap) {
  Plan plan = PlanOf(
      {{"c.json", Read(std::string(MERIDIAN_FHIR_EXAMPLES) + "/Consent-consent-example-basic.json")}},
      {.institution_id = "city-hosp-1", .organisations = {{"Organization/f001", "county-hosp-east"}}});
  ASSERT_THAT(plan.actions, SizeIs(1));
  const auto& req = std::get<consent::v1::ImportFhirConsentRequest>(plan.actions[0].request);
  EXPECT_EQ(req.patient_local_id(), "f001");
  EXPECT_THAT(req.resource_json(), HasSubstr("\"resourceType\":\"Consent\""));
  EXPECT_EQ(req.organisation_references().at("Organization/f001"), "county-hosp-east");
}

constexpr char kVisit[] = R"({
  "resourceType": "Bundle", "type": "transaction",
  "entry": [
    {"fullUrl": "urn:uuid:6f1c9d0e-7a51-4c0b-9d37-4f0c5a1e2b01",
     "resource": {"resourceType": "Patient", "name": [{"family": "Wang", "given": ["Fang"]}],
                  "gender": "female", "birthDate": "1980-02-29",
                  "identifier": [{"system": "urn:meridian:medical-insurance", "value": "MI-778"}]},
     "request": {"method": "POST", "url": "Patient"}},
    {"fullUrl": "urn:uuid:6f1c9d0e-7a51-4c0b-9d37-4f0c5a1e2b02",
     "resource": {"resourceType": "Encounter", "status": "finished",
                  "class": {"code": "EMER"},
                  "subject": {"reference": "urn:uuid:6f1c9d0e-7a51-4c0b-9d37-4f0c5a1e2b01"},
                  "period": {"start": "2026-11-02T09:00:00+08:00"},
                  "participant": [{"individual": {"reference": "Practitioner/dr-li"}}]},
     "request": {"method": "POST", "url": "Encounter"}},
    {"resource": {"resourceType": "Condition", "id": "cond-1",
                  "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}],
                           "text": "Hypertension"},
                  "subject": {"reference": "urn:uuid:6f1c9d0e-7a51-4c0b-9d37-4f0c5a1e2b01"},
                  "encounter": {"reference": "urn:uuid:6f1c9d0e-7a51-4c0b-9d37-4f0c5a1e2b02"}},
     "request": {"method": "POST", "url": "Condition"}},
    {"resource": {"resourceType": "MedicationRequest", "id": "rx-1", "status": "active",
                  "intent": "order",
                  "medicationCodeableConcept": {"coding": [
                    {"system": "urn:meridian:formulary", "code": "C08CA01-T5"}]},
                  "subject": {"reference": "urn:uuid:6f1c9d0e-7a51-4c0b-9d37-4f0c5a1e2b01"},
                  "encounter": {"reference": "urn:uuid:6f1c9d0e-7a51-4c0b-9d37-4f0c5a1e2b02"},
                  "authoredOn": "2026-11-02T09:30:00+08:00",
                  "requester": {"reference": "Practitioner/dr-li"},
                  "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                              "code": "I10"}]}],
                  "dosageInstruction": [{
                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                    "route": {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]},
                    "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg"}}]}],
                  "dispenseRequest": {"quantity": {"value": 28},
                                      "expectedSupplyDuration": {"value": 28, "code": "d"}}},
     "request": {"method": "POST", "url": "MedicationRequest"}},
    {"request": {"method": "DELETE", "url": "Patient/old"}}
  ]})";

TEST(FhirImport, TransactionWithUuidReferencesConditionsAndAFormularyPrescription) {
  Plan plan = PlanOf({{"visit.json", kVisit}});
  ExpectAccounted(plan, "visit");
  EXPECT_THAT(plan.errors, IsEmpty());
  ASSERT_THAT(plan.actions, SizeIs(3));
  const auto& patient = std::get<patient::v1::RegisterPatientRequest>(plan.actions[0].request);
  EXPECT_EQ(patient.local_id(), "6f1c9d0e-7a51-4c0b-9d37-4f0c5a1e2b01");  // from its fullUrl
  ASSERT_THAT(patient.identifiers(), SizeIs(1));
  EXPECT_EQ(patient.identifiers(0).type(), patient::v1::MEDICAL_INSURANCE);
  const auto& enc = std::get<records::v1::Encounter>(plan.actions[1].request);
  EXPECT_EQ(enc.patient_local_id(), patient.local_id());
  EXPECT_EQ(enc.encounter_class(), records::v1::EMERGENCY);
  EXPECT_EQ(enc.attending_clinician(), "dr-li");
  ASSERT_THAT(enc.diagnoses(), SizeIs(1));  // the Condition, merged in
  EXPECT_EQ(enc.diagnoses(0).icd10_code(), "I10");
  EXPECT_EQ(enc.diagnoses(0).description(), "Hypertension");
  ASSERT_THAT(plan.merged, SizeIs(1));
  EXPECT_THAT(plan.merged[0].text, HasSubstr("Encounter"));
  const auto& rx = std::get<prescriptions::v1::IssuePrescriptionRequest>(plan.actions[2].request);
  EXPECT_EQ(rx.prescription().encounter_local_id(), enc.local_id());
  EXPECT_THAT(rx.prescription().diagnosis_icd10(), ElementsAre("I10"));
  EXPECT_EQ(rx.prescription().prescriber(), "dr-li");
  const auto& item = rx.prescription().items(0);
  EXPECT_EQ(item.drug_code(), "C08CA01-T5");
  EXPECT_EQ(item.frequency(), prescriptions::v1::QD);
  EXPECT_EQ(item.route(), prescriptions::v1::ORAL);
  EXPECT_DOUBLE_EQ(item.dose(), 5);
  EXPECT_EQ(item.quantity(), 28);
  EXPECT_EQ(item.days(), 28);
  ASSERT_THAT(plan.not_taken, SizeIs(1));
  EXPECT_THAT(plan.not_taken[0].text, HasSubstr("DELETE"));
}

TEST(FhirImport, InvalidJsonNamesFileLineAndColumn) {
  Plan plan = PlanOf({{"broken.json", "{\n  \"resourceType\": \"Patient\",\n  \"id\": }"}});
  ASSERT_THAT(plan.errors, SizeIs(1));
  EXPECT_EQ(plan.errors[0].at.file, "broken.json");
  EXPECT_THAT(plan.errors[0].text, HasSubstr("not JSON: line 3, column"));
  ExpectAccounted(plan, "broken");
}

TEST(FhirImport, ANumberPastADoublesRangeIsAnErrorNotACrash) {
  // Valid JSON syntax that nlohmann cannot hold (found by fhir_import_fuzz).
  Plan plan = PlanOf({{"huge.json", R"({"resourceType": "Observation", "valueQuantity":
                                        {"value": 7e777}})"}});
  ASSERT_THAT(plan.errors, SizeIs(1));
  EXPECT_EQ(plan.errors[0].at.file, "huge.json");
  EXPECT_THAT(plan.errors[0].text, HasSubstr("out of range"));
  ExpectAccounted(plan, "huge");
}

TEST(FhirImport, EntriesWithoutAResourceNameMethodAndTypeButNoSearchValues) {
  // Search URLs carry identifiers and names (GET Patient?name=peter).
  Plan plan = PlanOfExample("Bundle-bundle-transaction.json");
  ExpectAccounted(plan, "transaction");
  std::vector<std::string> texts;
  for (const Outcome& o : plan.not_taken) {
    texts.push_back(o.text);
    EXPECT_THAT(o.text, Not(HasSubstr("?")));
    EXPECT_THAT(o.text, Not(HasSubstr("peter")));
    EXPECT_THAT(o.text, Not(HasSubstr("123456")));
  }
  EXPECT_THAT(texts, testing::Contains("a Bundle entry without a resource (GET Patient)"));
  EXPECT_THAT(texts, testing::Contains("a Bundle entry without a resource (DELETE Patient)"));
}

TEST(FhirImport, ValuesTheServicesWouldRefuseAreLeftOutWithANote) {
  // One bad value must not cost the whole request: a birth date that is not
  // a date, an ICD-10 code that is not one.
  constexpr char kBundle[] = R"({"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "25/12/1974",
                  "name": [{"family": "Wang", "given": ["Min"]}]}},
    {"resource": {"resourceType": "Encounter", "id": "e1", "status": "finished",
                  "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"},
                  "period": {"start": "2024-01-02T09:00:00Z"}}},
    {"resource": {"resourceType": "Condition", "id": "c1",
                  "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "abc"}]},
                  "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"}}}
  ]})";
  Plan plan = PlanOf({{"values.json", kBundle}});
  ExpectAccounted(plan, "values");
  EXPECT_THAT(plan.errors, IsEmpty());
  auto patients = RequestsOf<patient::v1::RegisterPatientRequest>(plan);
  ASSERT_THAT(patients, SizeIs(1));
  EXPECT_EQ(patients[0]->demographics().birth_date(), "");
  auto encounters = RequestsOf<records::v1::Encounter>(plan);
  ASSERT_THAT(encounters, SizeIs(1));
  EXPECT_THAT(encounters[0]->diagnoses(), IsEmpty());
  std::vector<std::string> notes;
  for (const Action& a : plan.actions) notes.insert(notes.end(), a.notes.begin(), a.notes.end());
  EXPECT_THAT(notes, testing::Contains(HasSubstr("birthDate is not a full date")));
  EXPECT_THAT(notes, testing::Contains(HasSubstr("Condition/c1 has no valid ICD-10 code")));
}

TEST(FhirImport, AnImagingReportsLaboratoryResultsAreSentOnTheirOwn) {
  // Only a laboratory report carries its results; an imaging report goes as
  // a document, so its Observations must not be counted as merged into it.
  constexpr char kBundle[] = R"({"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Patient", "id": "p1"}},
    {"resource": {"resourceType": "DiagnosticReport", "id": "ct1", "status": "final",
      "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                                "code": "RAD"}]}],
      "code": {"text": "CT head"}, "subject": {"reference": "Patient/p1"},
      "effectiveDateTime": "2024-01-02T09:00:00Z", "conclusion": "No bleed.",
      "result": [{"reference": "Observation/hb"}]}},
    {"resource": {"resourceType": "Observation", "id": "hb", "status": "final",
      "category": [{"coding": [{"system":
          "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
      "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
      "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-01-02T08:00:00Z",
      "valueQuantity": {"value": 13.1, "unit": "g/dL"}}}
  ]})";
  Plan plan = PlanOf({{"ct.json", kBundle}});
  ExpectAccounted(plan, "ct");
  EXPECT_THAT(plan.merged, IsEmpty());
  EXPECT_THAT(RequestsOf<records::v1::ClinicalDocument>(plan), SizeIs(1));
  EXPECT_THAT(RequestsOf<labs::v1::LabReport>(plan), SizeIs(1));
}

TEST(FhirImport, BadReferencesAreErrorsWithTheResourcesPosition) {
  constexpr char kBad[] = R"({"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Encounter", "id": "e1", "class": {"code": "AMB"},
                  "subject": {"reference": "urn:uuid:00000000-0000-0000-0000-00000000dead"}}},
    {"resource": {"resourceType": "Encounter", "id": "e2",
                  "subject": {"identifier": {"value": "123"}}}},
    {"resource": {"resourceType": "Encounter", "id": "e3",
                  "subject": {"reference": "Practitioner/p1"}}},
    {"resource": {"resourceType": "Encounter", "id": "e4",
                  "subject": {"reference": "#nowhere"}}},
    {"resource": {"resourceType": "Encounter", "id": "e5",
                  "subject": {"reference": "Patient/p9"}, "period": {"start": "soon"}}},
    {"resource": {"resourceType": "Encounter", "id": "bad id!"}},
    {"resource": {"id": "no-type"}},
    {"resource": {"resourceType": "Encounter", "id": "e6",
                  "subject": {"reference": "Patient?name=peter"}}}
  ]})";
  Plan plan = PlanOf({{"bad.json", kBad}});
  ExpectAccounted(plan, "bad");
  EXPECT_THAT(plan.actions, IsEmpty());
  ASSERT_THAT(plan.errors, SizeIs(8));
  EXPECT_EQ(plan.errors[0].at.ToString(), "bad.json entry 5 (Encounter)");
  EXPECT_THAT(plan.errors[0].text, HasSubstr("not a FHIR id"));
  EXPECT_THAT(plan.errors[1].text, HasSubstr("no resourceType"));
  EXPECT_EQ(plan.errors[2].at.ToString(), "bad.json entry 0 (Encounter/e1)");
  EXPECT_THAT(plan.errors[2].text, HasSubstr("subject: urn:uuid:"));
  EXPECT_THAT(plan.errors[2].text, HasSubstr("is not in the Bundle"));
  EXPECT_THAT(plan.errors[3].text, HasSubstr("subject: a reference by identifier"));
  EXPECT_THAT(plan.errors[4].text, HasSubstr("subject: a Practitioner, not a Patient"));
  EXPECT_THAT(plan.errors[5].text, HasSubstr("#nowhere is not a contained resource"));
  EXPECT_THAT(plan.errors[6].text, HasSubstr("period.start: not a FHIR date or dateTime"));
  // A search URL is not echoed: it can carry a name or an identifier.
  EXPECT_EQ(plan.errors[7].text, "subject: not a resolvable reference");
}

TEST(FhirImport, RepeatsAreSentOnceAndNewVersionsAsUpdates) {
  const std::string v1 = R"({"resourceType": "Patient", "id": "p1", "name": [{"family": "Li"}]})";
  const std::string v2 = R"({"resourceType": "Patient", "id": "p1", "name": [{"family": "Lee"}]})";
  Plan plan = PlanOf({{"a.json", v1}, {"b.json", v1}, {"c.json", v2}});
  ExpectAccounted(plan, "repeats");
  ASSERT_THAT(plan.actions, SizeIs(2));
  EXPECT_THAT(plan.merged, SizeIs(1));
  EXPECT_THAT(plan.merged[0].text, HasSubstr("the same as a.json"));
  EXPECT_EQ(std::get<patient::v1::RegisterPatientRequest>(plan.actions[1].request)
                .demographics()
                .family_name(),
            "Lee");
}

}  // namespace
}  // namespace meridian::fhir
