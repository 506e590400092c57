#include "services/records/validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/fields/fields.h"
#include "libs/status/status_macros.h"
#include "libs/timestamps/timestamps.h"

namespace meridian::records {
namespace {

using fields::CheckLocalId;
using fields::CheckText;
using fields::CheckTime;
using fields::Invalid;

using google::protobuf::Timestamp;

constexpr size_t kMaxShortText = 128;     // department, staff IDs, codes
constexpr size_t kMaxDescription = 512;   // diagnosis / procedure text, titles
constexpr size_t kMaxReason = 2000;       // referral reason and notes

}  // namespace

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
