#include "services/prescriptions/prescriptions.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/audit/audit.h"
#include "libs/fields/fields.h"
#include "libs/ids/hash.h"
#include "libs/ids/uuid.h"
#include "libs/status/retry.h"
#include "libs/status/status_macros.h"
#include "libs/timestamps/timestamps.h"
#include "services/prescriptions/safety.h"

namespace meridian::prescriptions {
namespace {

using fields::Invalid;

constexpr size_t kMaxShortText = 128;  // staff IDs, department, batch numbers
constexpr size_t kMaxReason = 500;     // cancellation and override reasons
constexpr size_t kMaxNote = 2000;
constexpr int kMaxDiagnoses = 20;
constexpr int kMaxOverrides = 50;
constexpr int64_t kMaxQuantity = 100000;
constexpr char kCodeAlphabet[] = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

// One error for an unknown ID and a wrong verification code: a pharmacy
// cannot probe which prescription IDs exist.
absl::Status NoSuchPrescription() {
  return absl::NotFoundError(
      "prescription_id: not found, or not with this verification code");
}

bool Dispensable(v1::PrescriptionStatus s) {
  return s == v1::ISSUED || s == v1::VERIFIED || s == v1::PARTIALLY_DISPENSED;
}

// The status as it stands at `now`: one whose validity ended is EXPIRED even
// before the sweep marks it.
v1::PrescriptionStatus StatusAt(const v1::Prescription& rx, absl::Time now) {
  if (Dispensable(rx.status()) && timestamps::FromProto(rx.expires_at()) <= now) {
    return v1::EXPIRED;
  }
  return rx.status();
}

absl::Status NotDispensable(v1::PrescriptionStatus status) {
  switch (status) {
    case v1::CANCELLED:
      return absl::FailedPreconditionError("prescription_id: the prescription is cancelled");
    case v1::EXPIRED:
      return absl::FailedPreconditionError("prescription_id: the prescription has expired");
    case v1::DISPENSED:
      return absl::FailedPreconditionError(
          "prescription_id: the prescription is fully dispensed");
    default:
      return absl::OkStatus();
  }
}

// Whether the patient is taking `rx`'s drugs (its therapy window is the
// store's to check): not when it expired before anything was dispensed.
bool Taken(const v1::Prescription& rx, absl::Time now) {
  return !(StatusAt(rx, now) == v1::EXPIRED && rx.dispensings_size() == 0);
}

bool SameCode(const std::string& a, const std::string& b) {
  // Constant time in the code's content.
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

absl::Status ValidateItem(const Formulary& formulary, const v1::PrescriptionItem& item,
                          const std::string& field) {
  if (item.drug_code().empty()) return Invalid(field + ".drug_code", "required");
  const Drug* drug = formulary.Find(item.drug_code());
  if (drug == nullptr) return Invalid(field + ".drug_code", "not in the formulary");
  if (!(item.dose() > 0) || !std::isfinite(item.dose()) || item.dose() > 1e6) {
    return Invalid(field + ".dose", "must be a positive amount");
  }
  if (item.dose_unit().empty()) return Invalid(field + ".dose_unit", "required");
  if (item.frequency() == v1::FREQUENCY_UNSPECIFIED || !v1::Frequency_IsValid(item.frequency())) {
    return Invalid(field + ".frequency", "unknown");
  }
  if (item.frequency() == v1::PRN) {
    if (item.prn_max_doses_per_day() < 1 || item.prn_max_doses_per_day() > 24) {
      return Invalid(field + ".prn_max_doses_per_day", "1-24 with frequency PRN");
    }
  } else if (item.prn_max_doses_per_day() != 0) {
    return Invalid(field + ".prn_max_doses_per_day", "only with frequency PRN");
  }
  absl::StatusOr<double> daily = DailyDose(*drug, item);
  if (!daily.ok()) {  // "dose_unit: ..."
    return absl::InvalidArgumentError(absl::StrCat(field, ".", daily.status().message()));
  }
  if (item.route() == v1::ROUTE_UNSPECIFIED || !v1::Route_IsValid(item.route())) {
    return Invalid(field + ".route", "unknown");
  }
  if (item.days() < 1 || item.days() > 365) return Invalid(field + ".days", "must be 1-365");
  if (item.quantity() < 1 || item.quantity() > kMaxQuantity) {
    return Invalid(field + ".quantity", absl::StrCat("must be 1-", kMaxQuantity));
  }
  return absl::OkStatus();
}

absl::Status ValidateIssue(const Formulary& formulary,
                           const v1::IssuePrescriptionRequest& request, absl::Time now) {
  if (!request.has_prescription()) return Invalid("prescription", "required");
  const v1::Prescription& p = request.prescription();
  MERIDIAN_RETURN_IF_ERROR(fields::CheckLocalId("prescription.local_id", p.local_id()));
  MERIDIAN_RETURN_IF_ERROR(
      fields::CheckLocalId("prescription.patient_local_id", p.patient_local_id()));
  if (p.prescriber().empty()) return Invalid("prescription.prescriber", "required");
  MERIDIAN_RETURN_IF_ERROR(
      fields::CheckText("prescription.prescriber", p.prescriber(), kMaxShortText));
  MERIDIAN_RETURN_IF_ERROR(
      fields::CheckText("prescription.department", p.department(), kMaxShortText));
  if (!p.encounter_local_id().empty() && !fields::IsValidLocalId(p.encounter_local_id())) {
    return Invalid("prescription.encounter_local_id",
                   "must be 1-64 printable ASCII characters without spaces");
  }
  if (p.diagnosis_icd10_size() == 0) {
    return Invalid("prescription.diagnosis_icd10", "at least one diagnosis is required");
  }
  if (p.diagnosis_icd10_size() > kMaxDiagnoses) {
    return Invalid("prescription.diagnosis_icd10", absl::StrCat("at most ", kMaxDiagnoses));
  }
  for (int i = 0; i < p.diagnosis_icd10_size(); ++i) {
    if (!fields::IsIcd10Code(p.diagnosis_icd10(i))) {
      return Invalid(absl::StrCat("prescription.diagnosis_icd10[", i, "]"), "not an ICD-10 code");
    }
  }
  MERIDIAN_RETURN_IF_ERROR(
      fields::CheckTime("prescription.issued_at", p.has_issued_at(), p.issued_at(), now));
  if (p.items_size() == 0) return Invalid("prescription.items", "at least one item");
  if (p.items_size() > kMaxItems) {
    return Invalid("prescription.items", absl::StrCat("at most ", kMaxItems));
  }
  for (int i = 0; i < p.items_size(); ++i) {
    MERIDIAN_RETURN_IF_ERROR(
        ValidateItem(formulary, p.items(i), absl::StrCat("prescription.items[", i, "]")));
  }
  if (p.validity_days() < 0 || p.validity_days() > kMaxValidityDays) {
    return Invalid("prescription.validity_days", absl::StrCat("must be 0-", kMaxValidityDays));
  }
  MERIDIAN_RETURN_IF_ERROR(fields::CheckText("prescription.note", p.note(), kMaxNote));
  if (request.overrides_size() > kMaxOverrides) {
    return Invalid("overrides", absl::StrCat("at most ", kMaxOverrides));
  }
  for (int i = 0; i < request.overrides_size(); ++i) {
    const v1::SafetyOverride& o = request.overrides(i);
    const std::string field = absl::StrCat("overrides[", i, "]");
    if (o.finding_id().empty()) return Invalid(field + ".finding_id", "required");
    MERIDIAN_RETURN_IF_ERROR(fields::CheckText(field + ".finding_id", o.finding_id(), 200));
    if (o.reason().empty()) return Invalid(field + ".reason", "required");
    MERIDIAN_RETURN_IF_ERROR(fields::CheckText(field + ".reason", o.reason(), kMaxReason));
  }
  return absl::OkStatus();
}

// The request as the platform keeps it: what the caller may set, nothing
// the platform sets.
v1::Prescription AsIssued(const v1::Prescription& p) {
  v1::Prescription out = p;
  out.clear_prescription_id();
  out.clear_organisation_id();
  out.clear_status();
  out.clear_expires_at();
  out.clear_verification();
  out.clear_cancellation();
  out.clear_dispensings();
  out.clear_findings();
  out.clear_overrides();
  out.clear_cross_institution_checked();
  for (v1::PrescriptionItem& item : *out.mutable_items()) {
    item.clear_drug_name();
    item.clear_atc_code();
    item.clear_therapy_class();
    item.clear_antibiotic();
    item.clear_form();
    item.clear_dispensed_quantity();
  }
  return out;
}

std::string RequestHash(const v1::Prescription& issued,
                        const google::protobuf::RepeatedPtrField<v1::SafetyOverride>& overrides) {
  v1::IssuePrescriptionRequest canonical;
  *canonical.mutable_prescription() = issued;
  *canonical.mutable_overrides() = overrides;
  std::string bytes;
  canonical.SerializeToString(&bytes);
  return ids::Sha256Hex(bytes);
}

// The same finding twice (e.g. the same drug on two active prescriptions)
// once, at its most severe.
std::vector<v1::SafetyFinding> Deduplicated(std::vector<v1::SafetyFinding> findings) {
  std::vector<v1::SafetyFinding> out;
  for (v1::SafetyFinding& f : findings) {
    auto same = std::find_if(out.begin(), out.end(),
                             [&](const v1::SafetyFinding& o) { return o.id() == f.id(); });
    if (same == out.end()) {
      out.push_back(std::move(f));
    } else if (f.severity() > same->severity() ||
               (f.other_institution() && !same->other_institution())) {
      *same = std::move(f);
    }
  }
  return out;
}

v1::IssuePrescriptionResponse AnswerOf(const StoredPrescription& s, v1::IssueOutcome outcome,
                                       absl::Time now) {
  v1::IssuePrescriptionResponse r;
  r.set_outcome(outcome);
  r.set_prescription_id(s.prescription.prescription_id());
  r.set_verification_code(s.verification_code);
  r.set_status(StatusAt(s.prescription, now));
  *r.mutable_expires_at() = s.prescription.expires_at();
  *r.mutable_findings() = s.prescription.findings();
  r.set_cross_institution_checked(s.prescription.cross_institution_checked());
  return r;
}

// The audit event of a read of `regional_id`'s prescriptions that returned
// `found`.
absl::StatusOr<outbox::PendingEvent> AuditOf(const consent::Accessor& caller,
                                             const char* operation,
                                             const std::string& regional_id,
                                             consent::v1::Purpose purpose,
                                             const std::string& break_glass_reason,
                                             const consent::Decision& decision,
                                             const std::vector<StoredPrescription>& found) {
  audit::v1::AccessRecorded access =
      audit::NewAccess(kServiceName, operation, caller, regional_id, purpose, break_glass_reason);
  audit::AddDecision(consent::v1::PRESCRIPTIONS, decision, &access);
  audit::SetDisclosed(
      found, [](const StoredPrescription& s) { return s.prescription.organisation_id(); },
      &access);
  return audit::AccessEvent(access);
}

std::string EncodeCursor(const v1::Prescription& p) {
  return fields::EncodePageToken(timestamps::FromProto(p.issued_at()), {p.prescription_id()});
}

absl::StatusOr<Cursor> DecodeCursor(const std::string& token) {
  MERIDIAN_ASSIGN_OR_RETURN(fields::PageKey key, fields::DecodePageToken(token, 1));
  if (!ids::IsUuid(key.keys[0])) return Invalid("page_token", "not a token this service issued");
  return Cursor{key.time, key.keys[0]};
}

}  // namespace

Prescriptions::Prescriptions(PrescriptionStore* store, xref::XrefStore* xrefs,
                             consent::Checker* consent, const orgs::Directory* directory,
                             const Formulary* formulary, PrescriptionsOptions options)
    : store_(store),
      xrefs_(xrefs),
      consent_(consent),
      directory_(directory),
      formulary_(formulary),
      options_(std::move(options)) {}

absl::StatusOr<outbox::PendingEvent> Prescriptions::EventFor(
    const char* type, const StoredPrescription& s, const std::string& actor,
    const std::string& regional_id, const v1::Dispensing* dispensing) {
  const v1::Prescription& p = s.prescription;
  v1::PrescriptionChanged e;
  e.set_prescription_id(p.prescription_id());
  e.set_organisation_id(p.organisation_id());
  e.set_patient_local_id(p.patient_local_id());
  e.set_status(p.status());
  e.set_actor_organisation(actor);
  *e.mutable_occurred_at() = timestamps::ToProto(options_.clock());
  *e.mutable_diagnosis_icd10() = p.diagnosis_icd10();
  e.set_overridden(p.overrides_size() > 0);
  if (dispensing != nullptr) e.set_dispensing_local_id(dispensing->local_id());
  for (int i = 0; i < p.items_size(); ++i) {
    const v1::PrescriptionItem& item = p.items(i);
    v1::PrescriptionChanged::Item* out = e.add_items();
    out->set_drug_code(item.drug_code());
    out->set_atc_code(item.atc_code());
    out->set_therapy_class(item.therapy_class());
    out->set_antibiotic(item.antibiotic());
    out->set_quantity(item.quantity());
    out->set_dispensed_total(item.dispensed_quantity());
    if (dispensing != nullptr) {
      for (const v1::DispensedItem& d : dispensing->items()) {
        if (d.item_index() == i) out->set_dispensed_now(out->dispensed_now() + d.quantity());
      }
    }
  }
  MERIDIAN_ASSIGN_OR_RETURN(
      events::v1::EventEnvelope env,
      outbox::NewEnvelope({.topic = kPrescriptionsTopic,
                           .type = type,
                           .key = absl::StrCat(p.organisation_id(), "/", p.patient_local_id()),
                           .source_organisation = p.organisation_id(),
                           .regional_patient_id = regional_id,
                           .producer = kServiceName},
                          e));
  return outbox::PendingEvent{kPrescriptionsTopic, std::move(env)};
}

absl::StatusOr<Prescriptions::Active> Prescriptions::ActiveDrugsOf(
    const consent::Accessor& caller, const std::string& patient_local_id, absl::Time now) {
  Active active;
  MERIDIAN_ASSIGN_OR_RETURN(active.regional_id,
                            xrefs_->RegionalIdOf({caller.organisation_id, patient_local_id}));
  PatientQuery query;
  query.caller_organisation = caller.organisation_id;
  query.active_at = now;
  query.limit = 500;
  query.include_other_institutions = false;
  query.patients = {{caller.organisation_id, patient_local_id}};
  AuditFor audit_for;
  if (!active.regional_id.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(query.patients, xrefs_->LocalIdsOf(active.regional_id));
    const bool elsewhere =
        std::any_of(query.patients.begin(), query.patients.end(),
                    [&](const xref::LocalId& l) {
                      return l.organisation_id != caller.organisation_id;
                    });
    active.cross_institution = !elsewhere;
    if (elsewhere) {
      // Other institutions' prescriptions inform the checks where consent
      // lets this institution see them for treatment; if consent refuses or
      // cannot be reached, the checks cover this institution's own only
      // (and say so) rather than block prescribing.
      absl::StatusOr<consent::Decision> d =
          consent_->Check({.accessor = caller,
                           .regional_id = active.regional_id,
                           .category = consent::v1::PRESCRIPTIONS,
                           .purpose = consent::v1::TREATMENT});
      if (d.ok() && d->permitted()) {
        query.include_other_institutions = true;
        active.cross_institution = true;
        audit_for = [&, decision = *d](const std::vector<StoredPrescription>& found) {
          return AuditOf(caller, "IssuePrescription.SafetyCheck", active.regional_id,
                         consent::v1::TREATMENT, "", decision, found);
        };
      }
    }
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredPrescription> found,
                            store_->Query(query, audit_for));
  for (const StoredPrescription& s : found) {
    if (!Taken(s.prescription, now)) continue;
    const bool other = s.prescription.organisation_id() != caller.organisation_id;
    for (const v1::PrescriptionItem& item : s.prescription.items()) {
      active.drugs.push_back({item.drug_code(), other});
    }
  }
  return active;
}

absl::StatusOr<v1::IssuePrescriptionResponse> Prescriptions::Issue(
    const consent::Accessor& caller, const v1::IssuePrescriptionRequest& request, bool dry_run) {
  const absl::Time now = options_.clock();
  MERIDIAN_RETURN_IF_ERROR(ValidateIssue(*formulary_, request, now));
  const std::string& org = caller.organisation_id;
  v1::Prescription p = AsIssued(request.prescription());
  const std::string hash = RequestHash(p, request.overrides());

  // The same prescription again: the first answer, without checking again
  // (the patient's other prescriptions may have changed since).
  auto replay = [&](const StoredPrescription& s) -> absl::StatusOr<v1::IssuePrescriptionResponse> {
    if (s.request_hash != hash) {
      return absl::AlreadyExistsError(
          "prescription.local_id: already issued with different content; a prescription "
          "does not change after issue (cancel it and issue a new one)");
    }
    return AnswerOf(s, dry_run ? v1::CHECKED : v1::UNCHANGED, now);
  };
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<StoredPrescription> existing,
                            store_->FindByLocal(org, p.local_id()));
  if (existing.has_value()) return replay(*existing);

  MERIDIAN_ASSIGN_OR_RETURN(Active active, ActiveDrugsOf(caller, p.patient_local_id(), now));
  std::vector<v1::SafetyFinding> findings =
      Deduplicated(CheckSafety(*formulary_, p.items(), active.drugs));
  for (int i = 0; i < request.overrides_size(); ++i) {
    const std::string& id = request.overrides(i).finding_id();
    if (std::none_of(findings.begin(), findings.end(),
                     [&](const v1::SafetyFinding& f) { return f.id() == id; })) {
      return Invalid(absl::StrCat("overrides[", i, "].finding_id"),
                     "matches no finding of this prescription");
    }
  }
  v1::IssuePrescriptionResponse response;
  response.set_cross_institution_checked(active.cross_institution);
  *response.mutable_findings() = {findings.begin(), findings.end()};
  for (const v1::SafetyFinding& f : findings) {
    const bool overridden =
        std::any_of(request.overrides().begin(), request.overrides().end(),
                    [&](const v1::SafetyOverride& o) { return o.finding_id() == f.id(); });
    if (f.severity() == v1::CONTRAINDICATED && !overridden) {
      response.set_outcome(v1::REFUSED);
      return response;
    }
  }

  StoredPrescription s;
  int max_days = 0;
  for (v1::PrescriptionItem& item : *p.mutable_items()) {
    const Drug& drug = *formulary_->Find(item.drug_code());
    item.set_drug_name(drug.name);
    item.set_atc_code(drug.atc);
    item.set_therapy_class(drug.therapy_class);
    item.set_antibiotic(drug.antibiotic);
    item.set_form(drug.form);
    max_days = std::max(max_days, item.days());
  }
  const absl::Time issued_at = timestamps::FromProto(p.issued_at());
  const int validity =
      p.validity_days() > 0 ? p.validity_days() : options_.default_validity_days;
  p.set_prescription_id(ids::NewUuid());
  p.set_organisation_id(org);
  *p.mutable_expires_at() = timestamps::ToProto(issued_at + absl::Hours(24 * validity));
  // A historic prescription whose validity has already ended is stored
  // expired.
  p.set_status(issued_at + absl::Hours(24 * validity) <= now ? v1::EXPIRED : v1::ISSUED);
  *p.mutable_findings() = response.findings();
  *p.mutable_overrides() = request.overrides();
  p.set_cross_institution_checked(active.cross_institution);
  s.prescription = std::move(p);
  s.verification_code = options_.new_code ? options_.new_code()
                                          : ids::RandomCode(8, kCodeAlphabet);
  s.request_hash = hash;
  s.active_until = issued_at + absl::Hours(24 * max_days);
  s.version = 1;
  if (dry_run) {
    response.set_outcome(v1::CHECKED);
    response.set_status(s.prescription.status());
    *response.mutable_expires_at() = s.prescription.expires_at();
    return response;  // no ID nor code: nothing was stored
  }

  std::vector<outbox::PendingEvent> events;
  MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent issued,
                            EventFor("prescription.issued", s, org, active.regional_id));
  events.push_back(std::move(issued));
  if (s.prescription.status() == v1::EXPIRED) {
    MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent expired,
                              EventFor("prescription.expired", s, org, active.regional_id));
    events.push_back(std::move(expired));
  }
  MERIDIAN_ASSIGN_OR_RETURN(PrescriptionStore::InsertResult inserted, store_->Insert(s, events));
  if (!inserted.inserted) return replay(inserted.stored);  // a concurrent retry won
  return AnswerOf(inserted.stored, v1::CREATED, now);
}

absl::StatusOr<StoredPrescription> Prescriptions::UpdateWithRetries(const std::string& id,
                                                                    const Change& change) {
  // The patient's regional ID for the events, looked up before the row is
  // locked: under the lock the lookup would hold the row and a connection
  // while it waits for another one (a pool full of such waits stalls).
  // The institution and patient of a prescription never change.
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<StoredPrescription> current, store_->Get(id));
  // An unknown ID answers exactly as a wrong verification code does.
  if (!current.has_value()) return NoSuchPrescription();
  MERIDIAN_ASSIGN_OR_RETURN(const std::string regional_id,
                            xrefs_->RegionalIdOf({current->prescription.organisation_id(),
                                                  current->prescription.patient_local_id()}));
  return status::RetryIfAborted(options_.max_attempts, [&] {
    return store_->Update(id, [&](StoredPrescription& rx,
                                  std::vector<outbox::PendingEvent>* events) {
      return change(rx, regional_id, events);
    });
  });
}

absl::StatusOr<v1::PrescriptionStateResponse> Prescriptions::Verify(
    const consent::Accessor& caller, const v1::VerifyPrescriptionRequest& request) {
  if (!ids::IsUuid(request.prescription_id())) {
    return Invalid("prescription_id", "not a prescription ID");
  }
  if (request.pharmacist().empty()) return Invalid("pharmacist", "required");
  MERIDIAN_RETURN_IF_ERROR(fields::CheckText("pharmacist", request.pharmacist(), kMaxShortText));
  MERIDIAN_RETURN_IF_ERROR(fields::CheckText("note", request.note(), kMaxNote));
  const absl::Time now = options_.clock();
  MERIDIAN_ASSIGN_OR_RETURN(
      StoredPrescription s,
      UpdateWithRetries(
          absl::AsciiStrToLower(request.prescription_id()),
          [&](StoredPrescription& rx, const std::string& regional_id,
              std::vector<outbox::PendingEvent>* events) -> absl::Status {
            v1::Prescription& p = rx.prescription;
            if (p.organisation_id() != caller.organisation_id &&
                !SameCode(request.verification_code(), rx.verification_code)) {
              return NoSuchPrescription();
            }
            if (p.status() == v1::VERIFIED &&
                p.verification().organisation_id() == caller.organisation_id) {
              return absl::OkStatus();  // a retry
            }
            if (StatusAt(p, now) != v1::ISSUED) {
              MERIDIAN_RETURN_IF_ERROR(NotDispensable(StatusAt(p, now)));
              return absl::FailedPreconditionError(
                  "prescription_id: only an ISSUED prescription is verified");
            }
            v1::Verification* v = p.mutable_verification();
            v->set_organisation_id(caller.organisation_id);
            v->set_pharmacist(request.pharmacist());
            v->set_note(request.note());
            *v->mutable_verified_at() = timestamps::ToProto(now);
            p.set_status(v1::VERIFIED);
            MERIDIAN_ASSIGN_OR_RETURN(
                outbox::PendingEvent e,
                EventFor("prescription.verified", rx, caller.organisation_id, regional_id));
            events->push_back(std::move(e));
            return absl::OkStatus();
          }));
  v1::PrescriptionStateResponse r;
  r.set_prescription_id(s.prescription.prescription_id());
  r.set_status(StatusAt(s.prescription, now));
  return r;
}

absl::StatusOr<v1::PrescriptionStateResponse> Prescriptions::Cancel(
    const consent::Accessor& caller, const v1::CancelPrescriptionRequest& request) {
  if (!ids::IsUuid(request.prescription_id())) {
    return Invalid("prescription_id", "not a prescription ID");
  }
  if (request.reason().empty()) return Invalid("reason", "required");
  MERIDIAN_RETURN_IF_ERROR(fields::CheckText("reason", request.reason(), kMaxReason));
  const absl::Time now = options_.clock();
  MERIDIAN_ASSIGN_OR_RETURN(
      StoredPrescription s,
      UpdateWithRetries(
          absl::AsciiStrToLower(request.prescription_id()),
          [&](StoredPrescription& rx, const std::string& regional_id,
              std::vector<outbox::PendingEvent>* events) -> absl::Status {
            v1::Prescription& p = rx.prescription;
            if (p.organisation_id() != caller.organisation_id) {
              return absl::PermissionDeniedError(
                  "prescription_id: issued by another institution; only the issuer cancels");
            }
            if (p.status() == v1::CANCELLED) return absl::OkStatus();  // a retry
            const v1::PrescriptionStatus status = StatusAt(p, now);
            if (!Dispensable(status)) {
              MERIDIAN_RETURN_IF_ERROR(NotDispensable(status));
            }
            p.mutable_cancellation()->set_reason(request.reason());
            *p.mutable_cancellation()->mutable_cancelled_at() = timestamps::ToProto(now);
            p.set_status(v1::CANCELLED);
            MERIDIAN_ASSIGN_OR_RETURN(
                outbox::PendingEvent e,
                EventFor("prescription.cancelled", rx, caller.organisation_id, regional_id));
            events->push_back(std::move(e));
            return absl::OkStatus();
          }));
  v1::PrescriptionStateResponse r;
  r.set_prescription_id(s.prescription.prescription_id());
  r.set_status(s.prescription.status());
  return r;
}

absl::StatusOr<v1::LookupPrescriptionResponse> Prescriptions::Lookup(
    const consent::Accessor& caller, const v1::LookupPrescriptionRequest& request) {
  if (!ids::IsUuid(request.prescription_id())) {
    return Invalid("prescription_id", "not a prescription ID");
  }
  if (request.verification_code().empty()) return Invalid("verification_code", "required");
  const absl::Time now = options_.clock();
  v1::LookupPrescriptionResponse response;
  // Read under the row's lock so that the audit event is written with the
  // read (the prescription itself is left unchanged).
  MERIDIAN_RETURN_IF_ERROR(
      UpdateWithRetries(
          absl::AsciiStrToLower(request.prescription_id()),
          [&](StoredPrescription& rx, const std::string& regional_id,
              std::vector<outbox::PendingEvent>* events) -> absl::Status {
            if (!SameCode(request.verification_code(), rx.verification_code)) {
              return NoSuchPrescription();
            }
            v1::Prescription p = rx.prescription;
            p.set_status(StatusAt(p, now));
            p.clear_patient_local_id();
            p.clear_encounter_local_id();
            p.clear_findings();
            p.clear_overrides();
            *response.mutable_prescription() = std::move(p);
            if (regional_id.empty()) return absl::OkStatus();  // see README: not yet linked
            audit::v1::AccessRecorded access = audit::NewAccess(
                kServiceName, "LookupPrescription", caller, regional_id, consent::v1::TREATMENT);
            consent::Decision by_code{.effect = consent::v1::PERMIT,
                                      .decided_by = "verification-code"};
            audit::AddDecision(consent::v1::PRESCRIPTIONS, by_code, &access);
            access.add_disclosed_organisations(rx.prescription.organisation_id());
            access.set_items_returned(1);
            MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, audit::AccessEvent(access));
            events->push_back(std::move(e));
            return absl::OkStatus();
          })
          .status());
  return response;
}

absl::StatusOr<v1::DispensePrescriptionResponse> Prescriptions::Dispense(
    const consent::Accessor& caller, const v1::DispensePrescriptionRequest& request) {
  if (!ids::IsUuid(request.prescription_id())) {
    return Invalid("prescription_id", "not a prescription ID");
  }
  if (request.verification_code().empty()) return Invalid("verification_code", "required");
  MERIDIAN_RETURN_IF_ERROR(fields::CheckLocalId("local_id", request.local_id()));
  if (request.pharmacist().empty()) return Invalid("pharmacist", "required");
  MERIDIAN_RETURN_IF_ERROR(fields::CheckText("pharmacist", request.pharmacist(), kMaxShortText));
  const absl::Time now = options_.clock();
  MERIDIAN_RETURN_IF_ERROR(fields::CheckTime("dispensed_at", request.has_dispensed_at(),
                                             request.dispensed_at(), now, /*required=*/false));
  if (request.items_size() == 0) return Invalid("items", "at least one item");
  if (request.items_size() > kMaxItems) {
    return Invalid("items", absl::StrCat("at most ", kMaxItems));
  }
  std::set<int> indices;
  for (int i = 0; i < request.items_size(); ++i) {
    const v1::DispensedItem& d = request.items(i);
    const std::string field = absl::StrCat("items[", i, "]");
    if (d.item_index() < 0 || d.item_index() >= kMaxItems) {
      return Invalid(field + ".item_index", "not an item of the prescription");
    }
    if (!indices.insert(d.item_index()).second) {
      return Invalid(field + ".item_index", "listed twice");
    }
    if (d.quantity() < 1 || d.quantity() > kMaxQuantity) {
      return Invalid(field + ".quantity", "must be at least 1");
    }
    if (d.batch_number().empty()) return Invalid(field + ".batch_number", "required");
    MERIDIAN_RETURN_IF_ERROR(
        fields::CheckText(field + ".batch_number", d.batch_number(), kMaxShortText));
  }
  v1::Dispensing dispensing;
  dispensing.set_pharmacy_id(caller.organisation_id);
  dispensing.set_local_id(request.local_id());
  dispensing.set_pharmacist(request.pharmacist());
  *dispensing.mutable_items() = request.items();
  *dispensing.mutable_dispensed_at() =
      request.has_dispensed_at() ? request.dispensed_at() : timestamps::ToProto(now);

  v1::IssueOutcome outcome = v1::CREATED;
  MERIDIAN_ASSIGN_OR_RETURN(
      StoredPrescription s,
      UpdateWithRetries(
          absl::AsciiStrToLower(request.prescription_id()),
          [&](StoredPrescription& rx, const std::string& regional_id,
              std::vector<outbox::PendingEvent>* events) -> absl::Status {
            outcome = v1::CREATED;
            v1::Prescription& p = rx.prescription;
            if (!SameCode(request.verification_code(), rx.verification_code)) {
              return NoSuchPrescription();
            }
            for (const v1::Dispensing& d : p.dispensings()) {
              if (d.pharmacy_id() != caller.organisation_id || d.local_id() != request.local_id()) {
                continue;
              }
              v1::Dispensing same = dispensing;
              *same.mutable_dispensed_at() = d.dispensed_at();
              if (same.SerializeAsString() != d.SerializeAsString()) {
                return absl::AlreadyExistsError(
                    "local_id: already used by this pharmacy for a different dispensing");
              }
              outcome = v1::UNCHANGED;  // a retry
              return absl::OkStatus();
            }
            MERIDIAN_RETURN_IF_ERROR(NotDispensable(StatusAt(p, now)));
            for (int i = 0; i < request.items_size(); ++i) {
              const v1::DispensedItem& d = request.items(i);
              if (d.item_index() >= p.items_size()) {
                return Invalid(absl::StrCat("items[", i, "].item_index"),
                               absl::StrCat("the prescription has ", p.items_size(), " items"));
              }
              const v1::PrescriptionItem& item = p.items(d.item_index());
              const int64_t remaining = item.quantity() - item.dispensed_quantity();
              if (d.quantity() > remaining) {
                return absl::FailedPreconditionError(
                    absl::StrCat("items[", i, "].quantity: more than the ", remaining,
                                 " remaining"));
              }
            }
            bool all = true;
            for (const v1::DispensedItem& d : request.items()) {
              v1::PrescriptionItem* item = p.mutable_items(d.item_index());
              item->set_dispensed_quantity(item->dispensed_quantity() + d.quantity());
            }
            for (const v1::PrescriptionItem& item : p.items()) {
              all &= item.dispensed_quantity() >= item.quantity();
            }
            p.set_status(all ? v1::DISPENSED : v1::PARTIALLY_DISPENSED);
            *p.add_dispensings() = dispensing;
            MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e,
                                      EventFor("prescription.dispensed", rx,
                                               caller.organisation_id, regional_id, &dispensing));
            events->push_back(std::move(e));
            return absl::OkStatus();
          }));
  v1::DispensePrescriptionResponse r;
  r.set_outcome(outcome);
  r.set_status(StatusAt(s.prescription, now));
  for (const v1::PrescriptionItem& item : s.prescription.items()) {
    r.add_remaining(item.quantity() - item.dispensed_quantity());
  }
  return r;
}

absl::StatusOr<v1::GetPatientPrescriptionsResponse> Prescriptions::GetPatientPrescriptions(
    const consent::Accessor& caller, const v1::GetPatientPrescriptionsRequest& request) {
  if (!ids::IsUuid(request.regional_id())) {
    return Invalid("regional_id", "not a regional patient ID");
  }
  MERIDIAN_ASSIGN_OR_RETURN(
      const consent::v1::Purpose purpose,
      consent::ReadPurpose(request.purpose(), request.break_glass_reason()));
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return Invalid("page_size", absl::StrCat("must be 1-", kMaxPageSize));
  }
  const absl::Time now = options_.clock();
  PatientQuery query;
  query.caller_organisation = caller.organisation_id;
  query.limit = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  if (request.active_only()) query.active_at = now;
  if (!request.page_token().empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(query.after, DecodeCursor(request.page_token()));
  }
  const std::string regional_id = absl::AsciiStrToLower(request.regional_id());
  MERIDIAN_ASSIGN_OR_RETURN(query.patients, xrefs_->LocalIdsOf(regional_id));
  if (query.patients.empty()) {
    return absl::NotFoundError("regional_id: no patient with this ID is known here");
  }
  MERIDIAN_ASSIGN_OR_RETURN(
      consent::Decision decision,
      consent_->Check({.accessor = caller,
                       .regional_id = regional_id,
                       .category = consent::v1::PRESCRIPTIONS,
                       .purpose = purpose,
                       .break_glass_reason = request.break_glass_reason()}));
  v1::GetPatientPrescriptionsResponse response;
  query.include_other_institutions = decision.permitted();
  if (!decision.permitted()) response.set_withheld_reason(decision.reason);
  auto audit_for = [&](const std::vector<StoredPrescription>& found) {
    return AuditOf(caller, "GetPatientPrescriptions", regional_id, purpose,
                   request.break_glass_reason(), decision, found);
  };
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredPrescription> found,
                            store_->Query(query, audit_for));
  for (const StoredPrescription& s : found) {
    if (request.active_only() && !Taken(s.prescription, now)) continue;
    v1::Prescription* p = response.add_prescriptions();
    *p = s.prescription;
    p->set_status(StatusAt(*p, now));
  }
  if (static_cast<int>(found.size()) == query.limit) {
    response.set_next_page_token(EncodeCursor(found.back().prescription));
  }
  return response;
}

absl::StatusOr<int> Prescriptions::ExpireDue(int limit) {
  const absl::Time now = options_.clock();
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> due, store_->DueToExpire(now, limit));
  int expired = 0;
  for (const std::string& id : due) {
    bool changed = false;
    MERIDIAN_RETURN_IF_ERROR(
        UpdateWithRetries(id, [&](StoredPrescription& rx, const std::string& regional_id,
                                  std::vector<outbox::PendingEvent>* events) -> absl::Status {
          changed = false;
          v1::Prescription& p = rx.prescription;
          if (StatusAt(p, now) != v1::EXPIRED || p.status() == v1::EXPIRED) {
            return absl::OkStatus();  // dispensed or cancelled meanwhile
          }
          p.set_status(v1::EXPIRED);
          MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e,
                                    EventFor("prescription.expired", rx, kServiceName,
                                             regional_id));
          events->push_back(std::move(e));
          changed = true;
          return absl::OkStatus();
        }).status());
    expired += changed ? 1 : 0;
  }
  return expired;
}

}  // namespace meridian::prescriptions
