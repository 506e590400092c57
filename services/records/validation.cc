#include "services/records/validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/status/status_macros.h"
#include "libs/timestamps/timestamps.h"

namespace meridian::records {
namespace {

using google::protobuf::Timestamp;

constexpr size_t kMaxShortText = 128;     // department, staff IDs, codes
constexpr size_t kMaxDescription = 512;   // diagnosis / procedure text, titles
constexpr size_t kMaxReason = 2000;       // referral reason and notes

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status CheckLocalId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return Invalid(field, "required");
  if (!IsValidLocalId(id)) {
    return Invalid(field, "must be 1-64 printable ASCII characters without spaces");
  }
  return absl::OkStatus();
}

absl::Status CheckText(absl::string_view field, absl::string_view text, size_t max) {
  if (text.size() > max) {
    return Invalid(field, absl::StrCat("longer than ", max, " bytes"));
  }
  return absl::OkStatus();
}


// A required (or, with `required` false, optional) clinical time.
absl::Status CheckTime(absl::string_view field, bool present, const Timestamp& t,
                       absl::Time now, bool required = true) {
  if (!present) return required ? Invalid(field, "required") : absl::OkStatus();
  if (!timestamps::IsValid(t)) {
    return Invalid(field, "not a valid timestamp");
  }
  absl::Time time = timestamps::FromProto(t);
  if (time < absl::FromCivil(absl::CivilDay(1900, 1, 1), absl::UTCTimeZone())) {
    return Invalid(field, "before 1900");
  }
  if (time > now + kMaxClockSkew) return Invalid(field, "in the future");
  return absl::OkStatus();
}



}  // namespace

bool IsIcd10Code(absl::string_view code) {
  // Category: a capital letter and two digits.
  if (code.size() < 3 || !absl::ascii_isupper(code[0]) ||
      !absl::ascii_isdigit(code[1]) || !absl::ascii_isdigit(code[2])) {
    return false;
  }
  if (code.size() == 3) return true;
  if (code[3] != '.') return false;
  absl::string_view sub = code.substr(4);
  // National clinical extension: 'x' and three digits at the end.
  if (sub.size() > 4 && sub[sub.size() - 4] == 'x' &&
      absl::ascii_isdigit(sub[sub.size() - 3]) &&
      absl::ascii_isdigit(sub[sub.size() - 2]) &&
      absl::ascii_isdigit(sub.back())) {
    sub.remove_suffix(4);
  }
  // Subcategory: 1-4 digits or capitals; the national placeholder 'x' only
  // first ("I10.x00").
  if (sub.empty() || sub.size() > 4) return false;
  for (size_t i = 0; i < sub.size(); ++i) {
    const char c = sub[i];
    if (!absl::ascii_isdigit(c) && !absl::ascii_isupper(c) && !(c == 'x' && i == 0)) {
      return false;
    }
  }
  return true;
}

bool IsValidLocalId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

absl::Status ValidateEncounter(const v1::Encounter& e, absl::Time now) {
  MERIDIAN_RETURN_IF_ERROR(CheckLocalId("encounter.local_id", e.local_id()));
  MERIDIAN_RETURN_IF_ERROR(CheckLocalId("encounter.patient_local_id", e.patient_local_id()));
  if (e.encounter_class() == v1::ENCOUNTER_CLASS_UNSPECIFIED ||
      !v1::EncounterClass_IsValid(e.encounter_class())) {
    return Invalid("encounter.encounter_class",
                   "must be OUTPATIENT, EMERGENCY or INPATIENT");
  }
  MERIDIAN_RETURN_IF_ERROR(CheckTime("encounter.start_time", e.has_start_time(),
                              e.start_time(), now));
  MERIDIAN_RETURN_IF_ERROR(CheckTime("encounter.end_time", e.has_end_time(), e.end_time(),
                              now, /*required=*/false));
  if (e.has_end_time() && timestamps::FromProto(e.end_time()) < timestamps::FromProto(e.start_time())) {
    return Invalid("encounter.end_time", "before start_time");
  }
  MERIDIAN_RETURN_IF_ERROR(CheckText("encounter.department", e.department(), kMaxShortText));
  MERIDIAN_RETURN_IF_ERROR(CheckText("encounter.attending_clinician",
                              e.attending_clinician(), kMaxShortText));
  if (e.diagnoses_size() > kMaxDiagnoses) {
    return Invalid("encounter.diagnoses", absl::StrCat("more than ", kMaxDiagnoses));
  }
  int primaries = 0;
  for (int i = 0; i < e.diagnoses_size(); ++i) {
    const v1::Diagnosis& d = e.diagnoses(i);
    const std::string field = absl::StrCat("encounter.diagnoses[", i, "]");
    if (!IsIcd10Code(d.icd10_code())) {
      return Invalid(absl::StrCat(field, ".icd10_code"), "not an ICD-10 code");
    }
    MERIDIAN_RETURN_IF_ERROR(CheckText(absl::StrCat(field, ".description"),
                                d.description(), kMaxDescription));
    if (d.primary()) ++primaries;
  }
  if (primaries > 1) return Invalid("encounter.diagnoses", "more than one primary");
  if (e.procedures_size() > kMaxProcedures) {
    return Invalid("encounter.procedures", absl::StrCat("more than ", kMaxProcedures));
  }
  for (int i = 0; i < e.procedures_size(); ++i) {
    const v1::Procedure& p = e.procedures(i);
    const std::string field = absl::StrCat("encounter.procedures[", i, "]");
    if (p.code().empty()) return Invalid(absl::StrCat(field, ".code"), "required");
    MERIDIAN_RETURN_IF_ERROR(CheckText(absl::StrCat(field, ".code"), p.code(), kMaxShortText));
    MERIDIAN_RETURN_IF_ERROR(CheckText(absl::StrCat(field, ".coding_system"),
                                p.coding_system(), kMaxShortText));
    MERIDIAN_RETURN_IF_ERROR(CheckText(absl::StrCat(field, ".description"),
                                p.description(), kMaxDescription));
    MERIDIAN_RETURN_IF_ERROR(CheckTime(absl::StrCat(field, ".performed_at"),
                                p.has_performed_at(), p.performed_at(), now,
                                /*required=*/false));
    if (p.has_performed_at() && timestamps::FromProto(p.performed_at()) < timestamps::FromProto(e.start_time())) {
      return Invalid(absl::StrCat(field, ".performed_at"), "before the encounter's start_time");
    }
    if (p.has_performed_at() && e.has_end_time() &&
        timestamps::FromProto(p.performed_at()) > timestamps::FromProto(e.end_time())) {
      return Invalid(absl::StrCat(field, ".performed_at"), "after the encounter's end_time");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDocument(const v1::ClinicalDocument& d, absl::Time now) {
  MERIDIAN_RETURN_IF_ERROR(CheckLocalId("document.local_id", d.local_id()));
  MERIDIAN_RETURN_IF_ERROR(CheckLocalId("document.patient_local_id", d.patient_local_id()));
  if (d.document_type() == v1::DOCUMENT_TYPE_UNSPECIFIED ||
      !v1::DocumentType_IsValid(d.document_type())) {
    return Invalid("document.document_type", "required");
  }
  MERIDIAN_RETURN_IF_ERROR(CheckTime("document.authored_at", d.has_authored_at(),
                              d.authored_at(), now));
  MERIDIAN_RETURN_IF_ERROR(CheckText("document.title", d.title(), kMaxDescription));
  MERIDIAN_RETURN_IF_ERROR(CheckText("document.author", d.author(), kMaxShortText));
  MERIDIAN_RETURN_IF_ERROR(CheckText("document.department", d.department(), kMaxShortText));
  MERIDIAN_RETURN_IF_ERROR(CheckText("document.exam_code", d.exam_code(), kMaxShortText));
  if (!d.encounter_local_id().empty()) {
    MERIDIAN_RETURN_IF_ERROR(CheckLocalId("document.encounter_local_id", d.encounter_local_id()));
  }
  MERIDIAN_RETURN_IF_ERROR(CheckText("document.text", d.text(), kMaxDocumentTextBytes));
  if (d.text().empty() && !d.entered_in_error()) {
    return Invalid("document.text", "required");
  }
  return absl::OkStatus();
}

absl::Status ValidateReferral(const v1::Referral& r, absl::string_view from,
                              const orgs::Directory& directory, absl::Time now) {
  MERIDIAN_RETURN_IF_ERROR(CheckLocalId("referral.local_id", r.local_id()));
  MERIDIAN_RETURN_IF_ERROR(CheckLocalId("referral.patient_local_id", r.patient_local_id()));
  if (r.to_organisation_id().empty()) return Invalid("referral.to_organisation_id", "required");
  const orgs::Organisation* to = directory.Find(r.to_organisation_id());
  if (to == nullptr) {
    return Invalid("referral.to_organisation_id", "not an institution of the region");
  }
  if (orgs::RoleOf(to->type()) != orgs::Role::kCare) {
    return Invalid("referral.to_organisation_id",
                   "must be a hospital or township health centre");
  }
  if (r.to_organisation_id() == from) {
    return Invalid("referral.to_organisation_id", "is the referring institution itself");
  }
  MERIDIAN_RETURN_IF_ERROR(CheckText("referral.reason", r.reason(), kMaxReason));
  if (r.reason().empty() && !r.entered_in_error()) {
    return Invalid("referral.reason", "required");
  }
  if (!r.icd10_code().empty() && !IsIcd10Code(r.icd10_code())) {
    return Invalid("referral.icd10_code", "not an ICD-10 code");
  }
  MERIDIAN_RETURN_IF_ERROR(CheckTime("referral.requested_at", r.has_requested_at(),
                              r.requested_at(), now));
  if (!r.encounter_local_id().empty()) {
    MERIDIAN_RETURN_IF_ERROR(CheckLocalId("referral.encounter_local_id", r.encounter_local_id()));
  }
  return absl::OkStatus();
}

}  // namespace meridian::records
