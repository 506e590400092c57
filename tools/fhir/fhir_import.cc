#include "tools/fhir/fhir_import.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/fhir/fhir.h"
#include "libs/fields/fields.h"
#include "libs/status/status_macros.h"
#include "nlohmann/json.hpp"

namespace meridian::fhir {

using nlohmann::json;

namespace {

constexpr char kLoinc[] = "http://loinc.org";
constexpr char kUcum[] = "http://unitsofmeasure.org";
constexpr char kSnomed[] = "http://snomed.info/sct";
constexpr char kIcd10[] = "http://hl7.org/fhir/sid/icd-10";
constexpr char kIcd10Cm[] = "http://hl7.org/fhir/sid/icd-10-cm";
constexpr char kIcd10Cn[] = "urn:meridian:icd-10";  // the region's ICD-10 edition
constexpr char kObservationCategory[] =
    "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr char kDiagnosticServiceSection[] = "http://terminology.hl7.org/CodeSystem/v2-0074";
constexpr char kInterpretation[] =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

// A string member, or "".
std::string Str(const json& o, const char* key) {
  if (!o.is_object() || !o.contains(key) || !o[key].is_string()) return "";
  return o[key].get<std::string>();
}

const json& Member(const json& o, const char* key) {
  static const json kNull;
  if (!o.is_object() || !o.contains(key)) return kNull;
  return o[key];
}

// The elements of an array member (none when absent or not an array).
const json& Items(const json& o, const char* key) {
  static const json kEmpty = json::array();
  const json& v = Member(o, key);
  return v.is_array() ? v : kEmpty;
}

// Whether `codeable` (or any of a CodeableConcept array) has `code` in `system`.
bool HasCode(const json& concepts, absl::string_view system, absl::string_view code) {
  auto one = [&](const json& c) { return CodeIn(c, system) == std::string(code); };
  if (concepts.is_array()) return std::any_of(concepts.begin(), concepts.end(), one);
  return one(concepts);
}

std::optional<std::string> Icd10Of(const json& codeable) {
  for (const char* system : {kIcd10Cn, kIcd10, kIcd10Cm}) {
    if (auto code = CodeIn(codeable, system)) return code;
  }
  return std::nullopt;
}

// The time `value` (a FHIR date or dateTime) names, or nullopt when absent;
// INVALID_ARGUMENT naming `element` when it is not one.
absl::StatusOr<std::optional<google::protobuf::Timestamp>> OptionalTime(const json& value,
                                                                        absl::string_view element) {
  if (value.is_null()) return std::nullopt;
  MERIDIAN_ASSIGN_OR_RETURN(google::protobuf::Timestamp t, ParseTime(value, element));
  return t;
}

// An Observation's or DiagnosticReport's effective[x] (the start of a period).
const json& EffectiveOf(const json& resource) {
  return resource.contains("effectiveDateTime") ? resource["effectiveDateTime"]
                                                : Member(Member(resource, "effectivePeriod"), "start");
}

struct Entry {
  const json* resource = nullptr;
  Position at;
  std::string local_id;  // the id, or a fullUrl's uuid when it has none
};

// " Patient" for "Patient?name=..." or "Patient/1", "" for anything else:
// a request URL's search parameters and ids can be personal data.
std::string TypeOfUrl(absl::string_view url) {
  absl::string_view type = url.substr(0, url.find_first_of("/?"));
  if (type.empty() || !absl::ascii_isupper(type[0]) ||
      !std::all_of(type.begin(), type.end(), [](char c) { return absl::ascii_isalpha(c); })) {
    return "";
  }
  return absl::StrCat(" ", type);
}

}  // namespace

std::string Position::ToString() const {
  std::string out = file;
  if (entry >= 0) absl::StrAppend(&out, " entry ", entry);
  if (!type.empty()) absl::StrAppend(&out, " (", type, id.empty() ? "" : "/", id, ")");
  return out;
}

std::string RequestName(const Request& request) {
  static const char* const kNames[] = {"RegisterPatient", "PushEncounter", "PushDocument",
                                       "PushReport",      "IssuePrescription",
                                       "ImportFhirConsent"};
  static_assert(std::size(kNames) == std::variant_size_v<Request>);
  return kNames[request.index()];
}

struct Importer::State {
  // The parsed files, kept for the resources' lifetime.
  std::vector<std::unique_ptr<json>> documents;
  std::vector<Entry> entries;  // in the order read
  absl::flat_hash_map<std::string, size_t> by_key;  // "Type/id" and fullUrl -> entry
  std::vector<Outcome> not_taken;
  std::vector<Outcome> duplicates;  // identical repeats of a resource read before
  std::vector<Outcome> errors;
  int resources = 0;
};

Importer::Importer(Options options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {}
Importer::~Importer() = default;

void Importer::AddFile(const std::string& name, absl::string_view text) {
  State& st = *state_;
  auto doc = std::make_unique<json>();
  try {
    *doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // Line and column of the byte where parsing stopped.
    size_t byte = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + byte, '\n'));
    size_t last_newline = text.substr(0, byte).rfind('\n');
    size_t column = byte - (last_newline == absl::string_view::npos ? 0 : last_newline + 1) + 1;
    st.errors.push_back({{name, -1, "", ""}, absl::StrCat("not JSON: line ", line, ", column ", column)});
    ++st.resources;
    return;
  } catch (const json::exception& e) {
    // Valid syntax nlohmann cannot hold, e.g. a number past a double's range
    // ("7e777", found by fhir_import_fuzz): was an uncaught exception.
    st.errors.push_back({{name, -1, "", ""}, "not JSON this importer can read (a number out of range)"});
    ++st.resources;
    return;
  }
  auto add = [&](const json& resource, int entry, const std::string& full_url) {
    ++st.resources;
    Position at{name, entry, Str(resource, "resourceType"), Str(resource, "id")};
    if (!resource.is_object() || at.type.empty()) {
      st.errors.push_back({at, "not a FHIR resource (no resourceType)"});
      return;
    }
    if (!at.id.empty() && !IsId(at.id)) {
      at.id.clear();  // any text: not repeated in the report
      st.errors.push_back({at, "id is not a FHIR id (1-64 of A-Z a-z 0-9 - .)"});
      return;
    }
    std::string local_id = at.id;
    if (local_id.empty() && absl::StartsWith(full_url, "urn:uuid:")) {
      local_id = full_url.substr(9);
    }
    const std::string keys[] = {at.id.empty() ? std::string() : at.type + "/" + at.id,
                                full_url};
    for (const std::string& key : keys) {
      auto it = key.empty() ? st.by_key.end() : st.by_key.find(key);
      if (it == st.by_key.end()) continue;
      // The same resource in two files (a Bundle and its parts): once. A
      // different version: sent again, in the order read, as an update
      // (the services take a known local ID as a change of that record).
      const Entry& first = st.entries[it->second];
      if (*first.resource == resource) {
        st.duplicates.push_back({at, absl::StrCat("the same as ", first.at.ToString())});
        return;
      }
    }
    for (const std::string& key : keys) {
      if (!key.empty()) st.by_key.insert_or_assign(key, st.entries.size());
    }
    st.entries.push_back({&resource, std::move(at), std::move(local_id)});
  };
  const json& root = *doc;
  if (Str(root, "resourceType") == "Bundle") {
    int i = 0;
    for (const json& e : Items(root, "entry")) {
      const json& request = Member(e, "request");
      if (!e.contains("resource")) {
        ++st.resources;
        st.not_taken.push_back(
            {{name, i, "", ""},
             absl::StrCat("a Bundle entry without a resource (", Str(request, "method"),
                          TypeOfUrl(Str(request, "url")), ")")});
      } else if (Str(request, "method") == "DELETE") {
        ++st.resources;
        st.not_taken.push_back({{name, i, Str(e["resource"], "resourceType"),
                                 Str(e["resource"], "id")},
                                "DELETE: the exchange keeps records and corrects them"});
      } else if (Str(e["resource"], "resourceType") == "Bundle") {
        ++st.resources;
        st.not_taken.push_back({{name, i, "Bundle", Str(e["resource"], "id")},
                                "a Bundle inside a Bundle"});
      } else {
        add(e["resource"], i, Str(e, "fullUrl"));
      }
      ++i;
    }
  } else {
    add(root, -1, "");
  }
  st.documents.push_back(std::move(doc));
}

namespace {

// The mapping of one Build(): what each resource became.
// Laboratory by its category, or, without one, a LOINC-coded Observation
// with a value (the vital signs profile always carries its category).
bool IsLaboratory(const json& resource) {
  if (Items(resource, "category").empty() && Str(resource, "resourceType") == "Observation") {
    return CodeIn(Member(resource, "code"), kLoinc).has_value() &&
           (resource.contains("valueQuantity") || resource.contains("valueString") ||
            resource.contains("valueCodeableConcept"));
  }
  for (const json& c : Items(resource, "category")) {
    const std::optional<std::string> section = CodeIn(c, kDiagnosticServiceSection);
    if (CodeIn(c, kObservationCategory) == "laboratory" || section == "LAB" ||
        section == "CH" || section == "HM") {
      return true;
    }
  }
  return false;
}

class Mapper {
 public:
  Mapper(const Options& options, const std::vector<Entry>& entries,
         const absl::flat_hash_map<std::string, size_t>& by_key)
      : options_(options), entries_(entries), by_key_(by_key) {}

  Plan Run();

 private:
  struct Target {
    const json* resource = nullptr;  // null: outside the files read
    const Entry* entry = nullptr;
    std::string type;
    std::string local_id;
  };

  // Resolves reference element `ref` of `from`; errors name `element`.
  absl::StatusOr<Target> Resolve(const Entry& from, const json& ref,
                                 absl::string_view element) const;
  // The local ID of the patient `ref` names (a Patient read or one
  // registered before under that id).
  absl::StatusOr<std::string> PatientOf(const Entry& from, const json& ref,
                                        absl::string_view element) const;
  const json* PatientResource(const Entry& from, const json& ref) const;

  absl::Status MapPatient(const Entry& e, Action& a);
  absl::Status MapEncounter(const Entry& e, Action& a);
  absl::Status MapDiagnosticReport(const Entry& e, Action& a);
  absl::Status MapObservation(const Entry& e, Action& a);
  absl::Status MapMedicationRequest(const Entry& e, Action& a);
  absl::Status MapConsent(const Entry& e, Action& a);
  absl::Status MapLabResult(const json& obs, labs::v1::LabResult& out,
                            std::vector<std::string>& notes) const;
  void FillPatientFacts(const Entry& from, const json& subject, labs::v1::LabReport& r) const;

  void NotTaken(const Entry& e, std::string why) { plan_.not_taken.push_back({e.at, why}); }

  const Options& options_;
  const std::vector<Entry>& entries_;
  const absl::flat_hash_map<std::string, size_t>& by_key_;
  Plan plan_;
  // Resources merged into another's request: entry index -> what into.
  absl::flat_hash_map<size_t, std::string> merged_;
  // The Conditions that name each Encounter read (Condition.encounter).
  absl::flat_hash_map<const Entry*, std::vector<const json*>> conditions_of_;
};

absl::StatusOr<Mapper::Target> Mapper::Resolve(const Entry& from, const json& ref,
                                               absl::string_view element) const {
  auto invalid = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(element, ": ", what));
  };
  if (!ref.is_object()) return invalid("not a Reference");
  const std::string r = Str(ref, "reference");
  if (r.empty()) {
    return invalid(ref.contains("identifier") ? "a reference by identifier is not resolvable"
                                              : "no reference");
  }
  if (r[0] == '#') {
    for (const json& c : Items(*from.resource, "contained")) {
      if (Str(c, "id") == r.substr(1)) return Target{&c, &from, Str(c, "resourceType"), ""};
    }
    return invalid(absl::StrCat(r, " is not a contained resource"));
  }
  auto it = by_key_.find(r);
  std::optional<TypeAndId> split = SplitReference(r);
  if (it == by_key_.end() && split) it = by_key_.find(split->type + "/" + split->id);
  if (it != by_key_.end()) {
    const Entry& e = entries_[it->second];
    return Target{e.resource, &e, e.at.type, e.local_id};
  }
  if (absl::StartsWith(r, "urn:")) return invalid(absl::StrCat(r, " is not in the Bundle"));
  if (!split) return invalid("not a resolvable reference");
  return Target{nullptr, nullptr, split->type, split->id};
}

absl::StatusOr<std::string> Mapper::PatientOf(const Entry& from, const json& ref,
                                              absl::string_view element) const {
  absl::StatusOr<Target> t = Resolve(from, ref, element);
  if (!t.ok()) return t.status();
  if (t->type != "Patient") {
    return absl::InvalidArgumentError(
        absl::StrCat(element, ": a ", t->type, ", not a Patient"));
  }
  if (t->local_id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(element, ": a contained Patient has no ID"));
  }
  return t->local_id;
}

const json* Mapper::PatientResource(const Entry& from, const json& ref) const {
  absl::StatusOr<Target> t = Resolve(from, ref, "");
  return t.ok() && t->type == "Patient" ? t->resource : nullptr;
}

Plan Mapper::Run() {
  // Which resources fold into another one's request.
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    auto mark = [&](const json& ref, const char* type, const std::string& into) {
      absl::StatusOr<Target> t = Resolve(e, ref, "");
      if (!t.ok() || t->entry == nullptr || t->entry == &e || t->type != type) return;
      merged_.emplace(static_cast<size_t>(t->entry - entries_.data()), into);
    };
    if (e.at.type == "DiagnosticReport" && IsLaboratory(*e.resource)) {
      // Only a laboratory report takes its results along; another kind is
      // sent as a document, and its Observations are mapped on their own.
      for (const json& ref : Items(*e.resource, "result")) {
        mark(ref, "Observation", absl::StrCat("its DiagnosticReport/", e.at.id));
      }
    } else if (e.at.type == "Encounter") {
      for (const json& d : Items(*e.resource, "diagnosis")) {
        mark(Member(d, "condition"), "Condition", absl::StrCat("its Encounter/", e.at.id));
      }
    } else if (e.at.type == "Condition" && e.resource->contains("encounter")) {
      absl::StatusOr<Target> t = Resolve(e, (*e.resource)["encounter"], "");
      if (t.ok() && t->entry != nullptr && t->type == "Encounter") {
        merged_.emplace(i, absl::StrCat("its Encounter/", t->entry->at.id));
        conditions_of_[t->entry].push_back(e.resource);
      }
    }
  }
  std::vector<Action> patients, others;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (auto m = merged_.find(i); m != merged_.end()) {
      plan_.merged.push_back({e.at, m->second});
      continue;
    }
    Action a{e.at, {}, {}};
    absl::Status s;
    const std::string& type = e.at.type;
    if (type == "Patient") {
      s = MapPatient(e, a);
    } else if (type == "Encounter") {
      s = MapEncounter(e, a);
    } else if (type == "DiagnosticReport") {
      s = MapDiagnosticReport(e, a);
    } else if (type == "Observation") {
      s = MapObservation(e, a);
    } else if (type == "MedicationRequest") {
      s = MapMedicationRequest(e, a);
    } else if (type == "Consent") {
      s = MapConsent(e, a);
    } else if (type == "Condition") {
      NotTaken(e, "a Condition outside any Encounter: diagnoses are recorded on encounters");
      continue;
    } else {
      NotTaken(e, absl::StrCat("Meridian does not take ", type, " resources"));
      continue;
    }
    if (absl::IsFailedPrecondition(s)) {
      NotTaken(e, std::string(s.message()));
    } else if (!s.ok()) {
      plan_.errors.push_back({e.at, std::string(s.message())});
    } else {
      (type == "Patient" ? patients : others).push_back(std::move(a));
    }
  }
  plan_.actions = std::move(patients);
  for (Action& a : others) plan_.actions.push_back(std::move(a));
  return std::move(plan_);
}

// --- Patient -------------------------------------------------------------

absl::Status Mapper::MapPatient(const Entry& e, Action& a) {
  const json& p = *e.resource;
  patient::v1::RegisterPatientRequest req;
  if (e.local_id.empty()) return absl::InvalidArgumentError("id: required");
  req.set_local_id(e.local_id);
  patient::v1::Demographics* d = req.mutable_demographics();
  const json* name = nullptr;
  for (const json& n : Items(p, "name")) {
    if (name == nullptr || Str(n, "use") == "official") name = &n;
    if (Str(n, "use") == "official") break;
  }
  if (name != nullptr) {
    d->set_family_name(Str(*name, "family"));
    std::vector<std::string> given;
    for (const json& g : Items(*name, "given")) {
      if (g.is_string()) given.push_back(g.get<std::string>());
    }
    d->set_given_name(absl::StrJoin(given, " "));
    if (d->family_name().empty() && d->given_name().empty()) d->set_family_name(Str(*name, "text"));
  }
  const std::string gender = Str(p, "gender");
  d->set_sex(gender == "male"     ? patient::v1::SEX_MALE
             : gender == "female" ? patient::v1::SEX_FEMALE
             : gender == "other"  ? patient::v1::SEX_OTHER
                                  : patient::v1::SEX_UNSPECIFIED);
  const std::string birth = Str(p, "birthDate");
  if (fields::ParseDate(birth)) {
    d->set_birth_date(birth);
  } else if (!birth.empty()) {
    a.notes.push_back("birthDate is not a full date: left out");
  }
  for (const json& t : Items(p, "telecom")) {
    if (Str(t, "system") == "phone" && Str(t, "use") != "old") {
      d->set_phone(Str(t, "value"));
      break;
    }
  }
  const json& addresses = Items(p, "address");
  if (!addresses.empty()) {
    const json& addr = addresses[0];
    std::vector<std::string> lines;
    for (const json& l : Items(addr, "line")) {
      if (l.is_string()) lines.push_back(l.get<std::string>());
    }
    d->mutable_address()->set_line(absl::StrJoin(lines, ", "));
    d->mutable_address()->set_postcode(Str(addr, "postalCode"));
    if (!Str(addr, "city").empty() || !Str(addr, "district").empty()) {
      a.notes.push_back("address city/district names: the index takes division codes");
    }
  }
  for (const json& id : Items(p, "identifier")) {
    const std::string system = Str(id, "system");
    const json& type = Member(id, "type");
    patient::v1::IdentifierType kind = patient::v1::IDENTIFIER_TYPE_UNSPECIFIED;
    if (system == "urn:meridian:resident-id") {
      kind = patient::v1::RESIDENT_ID;
    } else if (system == "urn:meridian:health-card") {
      kind = patient::v1::RESIDENT_HEALTH_CARD;
    } else if (system == "urn:meridian:medical-insurance") {
      kind = patient::v1::MEDICAL_INSURANCE;
    } else if (HasCode(type, "http://terminology.hl7.org/CodeSystem/v2-0203", "PPN")) {
      kind = patient::v1::PASSPORT;
    }
    if (kind == patient::v1::IDENTIFIER_TYPE_UNSPECIFIED) {
      a.notes.push_back(absl::StrCat("identifier of system ", system.empty() ? "(none)" : system,
                                     ": not a type the index matches on"));
      continue;
    }
    patient::v1::Identifier* out = req.add_identifiers();
    out->set_type(kind);
    out->set_value(Str(id, "value"));
    out->set_issuer(system);
  }
  if (!Items(p, "link").empty()) {
    a.notes.push_back("Patient.link: the index links identities by matching");
  }
  a.request = std::move(req);
  return absl::OkStatus();
}

// --- Encounter (+ Condition) ---------------------------------------------

absl::Status Mapper::MapEncounter(const Entry& e, Action& a) {
  const json& r = *e.resource;
  records::v1::Encounter enc;
  enc.set_local_id(e.local_id);
  absl::StatusOr<std::string> patient = PatientOf(e, Member(r, "subject"), "subject");
  if (!patient.ok()) return patient.status();
  enc.set_patient_local_id(*patient);
  const std::string klass = Str(Member(r, "class"), "code");
  if (klass == "EMER") {
    enc.set_encounter_class(records::v1::EMERGENCY);
  } else if (klass == "IMP" || klass == "ACUTE" || klass == "NONAC" || klass == "SS" ||
             klass == "PRENC") {
    enc.set_encounter_class(records::v1::INPATIENT);
  } else {
    enc.set_encounter_class(records::v1::OUTPATIENT);
    if (klass != "AMB") a.notes.push_back(absl::StrCat("class ", klass, " taken as outpatient"));
  }
  const json& period = Member(r, "period");
  MERIDIAN_ASSIGN_OR_RETURN(auto start, OptionalTime(Member(period, "start"), "period.start"));
  MERIDIAN_ASSIGN_OR_RETURN(auto end, OptionalTime(Member(period, "end"), "period.end"));
  if (start) *enc.mutable_start_time() = *start;
  if (end) *enc.mutable_end_time() = *end;
  std::string department = TextOf(Member(r, "serviceType"));
  if (department.empty() && !Items(r, "type").empty()) department = TextOf(Items(r, "type")[0]);
  enc.set_department(department);
  for (const json& p : Items(r, "participant")) {
    const json& who = Member(p, "individual");
    if (auto split = SplitReference(Str(who, "reference"))) {
      enc.set_attending_clinician(split->id);
      break;
    }
  }
  enc.set_entered_in_error(Str(r, "status") == "entered-in-error");
  // Diagnoses: the Encounter's own list, then Conditions pointing at it.
  std::vector<std::pair<const json*, bool>> conditions;  // condition, primary
  for (const json& d : Items(r, "diagnosis")) {
    absl::StatusOr<Target> t = Resolve(e, Member(d, "condition"), "diagnosis.condition");
    if (!t.ok()) return t.status();
    if (t->resource == nullptr) {
      a.notes.push_back(absl::StrCat("diagnosis ", Str(Member(d, "condition"), "reference"),
                                     " was not among the files read: left out"));
      continue;
    }
    conditions.push_back({t->resource, Member(d, "rank").is_number() && d["rank"] == 1});
  }
  if (auto named = conditions_of_.find(&e); named != conditions_of_.end()) {
    for (const json* condition : named->second) {
      if (std::none_of(conditions.begin(), conditions.end(),
                       [&](const auto& c) { return c.first == condition; })) {
        conditions.push_back({condition, false});
      }
    }
  }
  for (const auto& [condition, primary] : conditions) {
    std::optional<std::string> icd10 = Icd10Of(Member(*condition, "code"));
    if (!icd10 || !fields::IsIcd10Code(*icd10)) {
      a.notes.push_back(absl::StrCat("Condition/", Str(*condition, "id"),
                                     " has no valid ICD-10 code: left out of the diagnoses"));
      continue;
    }
    records::v1::Diagnosis* dx = enc.add_diagnoses();
    dx->set_icd10_code(*icd10);
    dx->set_description(TextOf(Member(*condition, "code")));
    dx->set_primary(primary);
  }
  a.request = std::move(enc);
  return absl::OkStatus();
}

// --- Laboratory (DiagnosticReport, Observation) ---------------------------


labs::v1::Flag FlagOf(const json& interpretations) {
  static const std::pair<const char*, labs::v1::Flag> kFlags[] = {
      {"N", labs::v1::NORMAL},        {"L", labs::v1::LOW},           {"H", labs::v1::HIGH},
      {"LL", labs::v1::CRITICAL_LOW}, {"HH", labs::v1::CRITICAL_HIGH}, {"A", labs::v1::ABNORMAL},
      {"AA", labs::v1::ABNORMAL}};
  for (const auto& [code, flag] : kFlags) {
    if (HasCode(interpretations, kInterpretation, code)) return flag;
  }
  return labs::v1::FLAG_UNSPECIFIED;
}

absl::Status Mapper::MapLabResult(const json& obs, labs::v1::LabResult& out,
                                  std::vector<std::string>& notes) const {
  const std::string where = absl::StrCat("Observation/", Str(obs, "id"));
  std::optional<std::string> loinc = CodeIn(Member(obs, "code"), kLoinc);
  if (!loinc) {
    return absl::FailedPreconditionError(absl::StrCat(where, " has no LOINC code"));
  }
  out.set_loinc_code(*loinc);
  out.set_name(TextOf(Member(obs, "code")));
  const std::string status = Str(obs, "status");
  out.set_status(status == "preliminary" || status == "registered" ? labs::v1::PRELIMINARY
                 : status == "amended" || status == "corrected"   ? labs::v1::CORRECTED
                 : status == "cancelled" || status == "entered-in-error"
                     ? labs::v1::CANCELLED
                     : labs::v1::FINAL);
  if (obs.contains("valueQuantity")) {
    const json& q = obs["valueQuantity"];
    if (!Member(q, "value").is_number()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": valueQuantity.value: not a number"));
    }
    out.set_numeric(q["value"].get<double>());
    out.set_unit(Str(q, "system") == kUcum && !Str(q, "code").empty() ? Str(q, "code")
                                                                       : Str(q, "unit"));
  } else if (obs.contains("valueString")) {
    out.set_text(Str(obs, "valueString"));
  } else if (obs.contains("valueCodeableConcept")) {
    const json& c = obs["valueCodeableConcept"];
    const json& codings = Items(c, "coding");
    labs::v1::CodedValue* coded = out.mutable_coded();
    if (!codings.empty()) {
      coded->set_system(Str(codings[0], "system"));
      coded->set_code(Str(codings[0], "code"));
    }
    coded->set_display(TextOf(c));
  } else if (out.status() != labs::v1::CANCELLED) {
    notes.push_back(absl::StrCat(where, " has no value[x] Meridian takes"));
  }
  const json& ranges = Items(obs, "referenceRange");
  if (!ranges.empty()) {
    const json& range = ranges[0];
    labs::v1::ReferenceRange* rr = out.mutable_reference_range();
    if (Member(Member(range, "low"), "value").is_number()) {
      rr->set_low(range["low"]["value"].get<double>());
    }
    if (Member(Member(range, "high"), "value").is_number()) {
      rr->set_high(range["high"]["value"].get<double>());
    }
    rr->set_text(Str(range, "text"));
  }
  out.set_flag(FlagOf(Member(obs, "interpretation")));
  out.set_specimen(Str(Member(obs, "specimen"), "display"));
  MERIDIAN_ASSIGN_OR_RETURN(auto collected, OptionalTime(EffectiveOf(obs), where + ": effective"));
  MERIDIAN_ASSIGN_OR_RETURN(auto reported, OptionalTime(Member(obs, "issued"), where + ": issued"));
  if (collected) *out.mutable_collected_at() = *collected;
  if (reported) *out.mutable_reported_at() = *reported;
  if (!Items(obs, "note").empty()) out.set_note(Str(Items(obs, "note")[0], "text"));
  return absl::OkStatus();
}

void Mapper::FillPatientFacts(const Entry& from, const json& subject,
                              labs::v1::LabReport& r) const {
  const json* p = PatientResource(from, subject);
  if (p == nullptr) return;
  const std::string gender = Str(*p, "gender");
  r.set_patient_sex(gender == "male"     ? labs::v1::MALE
                    : gender == "female" ? labs::v1::FEMALE
                                         : labs::v1::SEX_UNSPECIFIED);
  if (fields::ParseDate(Str(*p, "birthDate"))) r.set_patient_birth_date(Str(*p, "birthDate"));
}

absl::Status Mapper::MapDiagnosticReport(const Entry& e, Action& a) {
  const json& r = *e.resource;
  absl::StatusOr<std::string> patient = PatientOf(e, Member(r, "subject"), "subject");
  if (!patient.ok()) return patient.status();
  MERIDIAN_ASSIGN_OR_RETURN(auto effective, OptionalTime(EffectiveOf(r), "effective[x]"));
  MERIDIAN_ASSIGN_OR_RETURN(auto issued_as_read, OptionalTime(Member(r, "issued"), "issued"));
  // The report's own time: issued, else effective[x].
  const auto issued = issued_as_read ? issued_as_read : effective;
  if (!IsLaboratory(r)) {
    // Imaging and other reports: a clinical document of the record.
    records::v1::ClinicalDocument doc;
    doc.set_local_id(e.local_id);
    doc.set_patient_local_id(*patient);
    const bool imaging = std::any_of(
        Items(r, "category").begin(), Items(r, "category").end(), [](const json& c) {
          for (const char* code : {"RAD", "CT", "MR", "US", "NMR", "RX", "XRC", "VUS"}) {
            if (CodeIn(c, kDiagnosticServiceSection) == code) return true;
          }
          return CodeIn(c, kSnomed) == "394914008";  // radiology
        });
    doc.set_document_type(imaging ? records::v1::IMAGING_REPORT : records::v1::EXAM_REPORT);
    doc.set_title(TextOf(Member(r, "code")));
    if (issued) *doc.mutable_authored_at() = *issued;
    for (const json& p : Items(r, "performer")) {
      if (auto split = SplitReference(Str(p, "reference")); split && split->type != "Organization") {
        doc.set_author(split->id);
        break;
      }
    }
    const json& codings = Items(Member(r, "code"), "coding");
    if (!codings.empty()) doc.set_exam_code(Str(codings[0], "code"));
    doc.set_text(Str(r, "conclusion"));
    doc.set_entered_in_error(Str(r, "status") == "entered-in-error");
    if (r.contains("encounter")) {
      absl::StatusOr<Target> enc = Resolve(e, r["encounter"], "encounter");
      if (!enc.ok()) return enc.status();
      doc.set_encounter_local_id(enc->local_id);
    }
    a.request = std::move(doc);
    return absl::OkStatus();
  }
  labs::v1::LabReport report;
  report.set_local_id(e.local_id);
  report.set_patient_organisation_id(options_.institution_id);
  report.set_patient_local_id(*patient);
  report.set_ordering_organisation_id(options_.institution_id);
  FillPatientFacts(e, Member(r, "subject"), report);
  if (auto panel = CodeIn(Member(r, "code"), kLoinc)) report.set_panel_loinc_code(*panel);
  report.set_panel_name(TextOf(Member(r, "code")));
  if (effective || issued) *report.mutable_ordered_at() = effective ? *effective : *issued;
  int index = 0;
  for (const json& ref : Items(r, "result")) {
    const std::string element = absl::StrCat("result[", index++, "]");
    absl::StatusOr<Target> t = Resolve(e, ref, element);
    if (!t.ok()) return t.status();
    if (t->resource == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          element, ": ", Str(ref, "reference"), " is not among the files read"));
    }
    labs::v1::LabResult* result = report.add_results();
    absl::Status s = MapLabResult(*t->resource, *result, a.notes);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(element, ": ", s.message()));
    // A panel's results are often timed only by the report: its
    // effective[x] (when the specimen was taken) and issued.
    if (!result->has_collected_at() && effective) *result->mutable_collected_at() = *effective;
    if (!result->has_reported_at() && issued) *result->mutable_reported_at() = *issued;
  }
  if (report.results_size() == 0) {
    return absl::FailedPreconditionError("a laboratory DiagnosticReport without results");
  }
  a.request = std::move(report);
  return absl::OkStatus();
}

absl::Status Mapper::MapObservation(const Entry& e, Action& a) {
  const json& obs = *e.resource;
  if (!IsLaboratory(obs)) {
    std::string category = "none";
    if (!Items(obs, "category").empty()) {
      category = CodeIn(Items(obs, "category")[0], kObservationCategory).value_or("other");
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "an Observation of category ", category, ": only laboratory results are taken"));
  }
  absl::StatusOr<std::string> patient = PatientOf(e, Member(obs, "subject"), "subject");
  if (!patient.ok()) return patient.status();
  labs::v1::LabReport report;
  report.set_local_id(e.local_id);
  report.set_patient_organisation_id(options_.institution_id);
  report.set_patient_local_id(*patient);
  report.set_ordering_organisation_id(options_.institution_id);
  FillPatientFacts(e, Member(obs, "subject"), report);
  absl::Status s = MapLabResult(obs, *report.add_results(), a.notes);
  if (!s.ok()) return s;
  if (report.results(0).has_collected_at()) *report.mutable_ordered_at() = report.results(0).collected_at();
  a.request = std::move(report);
  return absl::OkStatus();
}

// --- MedicationRequest -----------------------------------------------------

prescriptions::v1::Frequency FrequencyOf(const json& repeat, bool as_needed) {
  if (as_needed) return prescriptions::v1::PRN;
  const json& f = Member(repeat, "frequency");
  const json& p = Member(repeat, "period");
  const std::string unit = Str(repeat, "periodUnit");
  if (!f.is_number_integer() || !p.is_number()) return prescriptions::v1::FREQUENCY_UNSPECIFIED;
  const int n = f.get<int>();
  const double period = p.get<double>();
  if (unit == "d" && period == 1) {
    switch (n) {
      case 1: return prescriptions::v1::QD;
      case 2: return prescriptions::v1::BID;
      case 3: return prescriptions::v1::TID;
      case 4: return prescriptions::v1::QID;
      default: break;
    }
  }
  if (unit == "h" && n == 1) {
    if (period == 6) return prescriptions::v1::Q6H;
    if (period == 8) return prescriptions::v1::Q8H;
    if (period == 12) return prescriptions::v1::Q12H;
    if (period == 24) return prescriptions::v1::QD;
  }
  if (unit == "wk" && n == 1 && period == 1) return prescriptions::v1::QW;
  return prescriptions::v1::FREQUENCY_UNSPECIFIED;
}

prescriptions::v1::Route RouteOf(const json& route) {
  static const std::pair<const char*, prescriptions::v1::Route> kRoutes[] = {
      {"26643006", prescriptions::v1::ORAL},         {"47625008", prescriptions::v1::INTRAVENOUS},
      {"78421000", prescriptions::v1::INTRAMUSCULAR}, {"34206005", prescriptions::v1::SUBCUTANEOUS},
      {"447694001", prescriptions::v1::INHALED},     {"6064005", prescriptions::v1::TOPICAL},
      {"37161004", prescriptions::v1::RECTAL},       {"37839007", prescriptions::v1::SUBLINGUAL},
      {"54485002", prescriptions::v1::OPHTHALMIC},   {"45890007", prescriptions::v1::TRANSDERMAL}};
  for (const auto& [code, r] : kRoutes) {
    if (CodeIn(route, kSnomed) == std::string(code)) return r;
  }
  return prescriptions::v1::ROUTE_UNSPECIFIED;
}

absl::Status Mapper::MapMedicationRequest(const Entry& e, Action& a) {
  const json& r = *e.resource;
  // The medication: inline, or a Medication resource (contained or read).
  const json* medication = r.contains("medicationCodeableConcept")
                               ? &r["medicationCodeableConcept"]
                               : nullptr;
  if (medication == nullptr && r.contains("medicationReference")) {
    absl::StatusOr<Target> t = Resolve(e, r["medicationReference"], "medicationReference");
    if (!t.ok()) return t.status();
    if (t->resource == nullptr || t->type != "Medication") {
      return absl::FailedPreconditionError(
          "the Medication it names is not among the files read");
    }
    medication = &Member(*t->resource, "code");
  }
  if (medication == nullptr) return absl::InvalidArgumentError("medication[x]: required");
  std::optional<std::string> drug = CodeIn(*medication, kFormularySystem);
  if (!drug) {
    std::set<std::string> systems;
    for (const json& c : Items(*medication, "coding")) systems.insert(Str(c, "system"));
    return absl::FailedPreconditionError(absl::StrCat(
        "the medication is coded in ", systems.empty() ? "no system" : absl::StrJoin(systems, ", "),
        ", not in the region's formulary (", kFormularySystem, ")"));
  }
  prescriptions::v1::IssuePrescriptionRequest req;
  prescriptions::v1::Prescription* rx = req.mutable_prescription();
  rx->set_local_id(e.local_id);
  absl::StatusOr<std::string> patient = PatientOf(e, Member(r, "subject"), "subject");
  if (!patient.ok()) return patient.status();
  rx->set_patient_local_id(*patient);
  if (auto split = SplitReference(Str(Member(r, "requester"), "reference"))) {
    rx->set_prescriber(split->id);
  }
  if (r.contains("encounter")) {
    absl::StatusOr<Target> enc = Resolve(e, r["encounter"], "encounter");
    if (!enc.ok()) return enc.status();
    rx->set_encounter_local_id(enc->local_id);
  }
  for (const json& reason : Items(r, "reasonCode")) {
    if (auto icd10 = Icd10Of(reason); icd10 && fields::IsIcd10Code(*icd10)) {
      rx->add_diagnosis_icd10(*icd10);
    }
  }
  MERIDIAN_ASSIGN_OR_RETURN(auto authored, OptionalTime(Member(r, "authoredOn"), "authoredOn"));
  if (authored) *rx->mutable_issued_at() = *authored;
  prescriptions::v1::PrescriptionItem* item = rx->add_items();
  item->set_drug_code(*drug);
  const json& dosages = Items(r, "dosageInstruction");
  if (!dosages.empty()) {
    const json& dosage = dosages[0];
    const json& rates = Items(dosage, "doseAndRate");
    if (!rates.empty() && Member(Member(rates[0], "doseQuantity"), "value").is_number()) {
      const json& q = rates[0]["doseQuantity"];
      item->set_dose(q["value"].get<double>());
      item->set_dose_unit(!Str(q, "code").empty() ? Str(q, "code") : Str(q, "unit"));
    }
    item->set_frequency(FrequencyOf(Member(Member(dosage, "timing"), "repeat"),
                                    Member(dosage, "asNeededBoolean") == true));
    item->set_route(RouteOf(Member(dosage, "route")));
  }
  const json& dispense = Member(r, "dispenseRequest");
  if (Member(Member(dispense, "quantity"), "value").is_number()) {
    item->set_quantity(static_cast<int64_t>(std::ceil(dispense["quantity"]["value"].get<double>())));
  }
  const json& supply = Member(dispense, "expectedSupplyDuration");
  if (Member(supply, "value").is_number() && Str(supply, "code") == "d") {
    item->set_days(static_cast<int32_t>(supply["value"].get<double>()));
  }
  if (!Items(r, "note").empty()) rx->set_note(Str(Items(r, "note")[0], "text"));
  a.request = std::move(req);
  return absl::OkStatus();
}

// --- Consent -----------------------------------------------------------------

absl::Status Mapper::MapConsent(const Entry& e, Action& a) {
  const json& r = *e.resource;
  absl::StatusOr<std::string> patient = PatientOf(e, Member(r, "patient"), "patient");
  if (!patient.ok()) return patient.status();
  consent::v1::ImportFhirConsentRequest req;
  req.set_resource_json(r.dump());
  req.set_patient_local_id(*patient);
  for (const auto& [reference, org] : options_.organisations) {
    (*req.mutable_organisation_references())[reference] = org;
  }
  a.request = std::move(req);
  return absl::OkStatus();
}

}  // namespace

Plan Importer::Build() const {
  Plan plan = Mapper(options_, state_->entries, state_->by_key).Run();
  plan.not_taken.insert(plan.not_taken.begin(), state_->not_taken.begin(),
                        state_->not_taken.end());
  plan.errors.insert(plan.errors.begin(), state_->errors.begin(), state_->errors.end());
  plan.merged.insert(plan.merged.end(), state_->duplicates.begin(), state_->duplicates.end());
  plan.resources = state_->resources;
  return plan;
}

}  // namespace meridian::fhir
