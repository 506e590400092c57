// FHIR R4 JSON -> the calls an institution makes to Meridian's services.
//
// An Importer reads files (a Bundle of any type, or one resource), indexes
// every resource by "Type/id" and by its Bundle fullUrl, resolves references
// (relative, absolute, urn:uuid, contained "#id") and plans one request per
// resource Meridian takes:
//
//   Patient            -> patient-index RegisterPatient
//   Encounter          -> records PushEncounter, with its Conditions' ICD-10
//                         codes as diagnoses (Condition is merged into it)
//   DiagnosticReport   -> lab-results PushReport with its Observations
//                         (laboratory), or records PushDocument (imaging and
//                         other reports)
//   Observation        -> lab-results PushReport (laboratory category only)
//   MedicationRequest  -> prescriptions IssuePrescription, when coded in the
//                         region's formulary (system kFormularySystem)
//   Consent            -> consent ImportFhirConsent
//
// Nothing is dropped silently: every resource read ends up exactly once as a
// planned request, merged into another one (a Condition into its Encounter,
// an Observation into its DiagnosticReport), not taken (with the reason), or
// an error (with its file, entry and Type/id). It knows nothing of gRPC: the
// adapter (main.cc) sends the plan.
//
//   fhir::Importer importer({.institution_id = "city-hosp-1"});
//   importer.AddFile("Bundle-lipids.json", text);
//   fhir::Plan plan = importer.Build();
#ifndef MERIDIAN_TOOLS_FHIR_FHIR_IMPORT_H_
#define MERIDIAN_TOOLS_FHIR_FHIR_IMPORT_H_

#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"
#include "meridian/consent/v1/consent.pb.h"
#include "meridian/labs/v1/labs.pb.h"
#include "meridian/patient/v1/patient_index.pb.h"
#include "meridian/prescriptions/v1/prescriptions.pb.h"
#include "meridian/records/v1/records.pb.h"

namespace meridian::fhir {

// The code system of the region's formulary codes (drugs.tsv), e.g.
// {"system": kFormularySystem, "code": "J01CA04-C500"}.
inline constexpr char kFormularySystem[] = "urn:meridian:formulary";

// Where a resource was read: "Bundle-lipids.json entry 2 (Observation/cholesterol)".
struct Position {
  std::string file;
  int entry = -1;  // -1: the file is the resource
  std::string type;
  std::string id;
  std::string ToString() const;
};

using Request =
    std::variant<patient::v1::RegisterPatientRequest, records::v1::Encounter,
                 records::v1::ClinicalDocument, labs::v1::LabReport,
                 prescriptions::v1::IssuePrescriptionRequest,
                 consent::v1::ImportFhirConsentRequest>;

struct Action {
  Position at;
  Request request;
  // What the resource held that the request leaves out, e.g. "birthDate
  // 1974 is not a full date".
  std::vector<std::string> notes;
};

struct Outcome {
  Position at;
  std::string text;  // the reason not taken, or the error
};

struct Plan {
  // Patients first (the other requests name them), then in the order read.
  std::vector<Action> actions;
  std::vector<Outcome> merged;     // text: what it was merged into
  std::vector<Outcome> not_taken;  // text: why
  std::vector<Outcome> errors;     // invalid JSON, references, values
  int resources = 0;               // every resource (and resource-less entry) read
};

struct Options {
  // The calling institution: the patients' local IDs are its own.
  std::string institution_id;
  // FHIR Organization references -> directory IDs (for Consent actors).
  std::map<std::string, std::string> organisations;
};

class Importer {
 public:
  explicit Importer(Options options);
  ~Importer();
  Importer(const Importer&) = delete;
  Importer& operator=(const Importer&) = delete;

  // One file: a resource or a Bundle. Invalid JSON becomes an error naming
  // the file, line and column.
  void AddFile(const std::string& name, absl::string_view json);

  Plan Build() const;

 private:
  struct State;
  Options options_;
  std::unique_ptr<State> state_;
};

// The name of the request's kind, e.g. "RegisterPatient".
std::string RequestName(const Request& request);

}  // namespace meridian::fhir

#endif  // MERIDIAN_TOOLS_FHIR_FHIR_IMPORT_H_
