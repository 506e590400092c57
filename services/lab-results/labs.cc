#include "services/lab-results/labs.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "libs/audit/audit.h"
#include "libs/fields/fields.h"
#include "libs/ids/uuid.h"
#include "libs/status/retry.h"
#include "libs/status/status_macros.h"
#include "libs/timestamps/timestamps.h"

namespace meridian::labs {
namespace {

using fields::Invalid;

constexpr size_t kMaxShortText = 128;  // clinician, specimen, codes
constexpr size_t kMaxName = 256;
constexpr size_t kMaxNote = 2000;
constexpr size_t kMaxTextValue = 4000;
constexpr int kMaxCodesPerQuery = 50;
constexpr int kMaxReuseAgeHours = 24 * 365;

bool Critical(v1::Flag f) { return f == v1::CRITICAL_LOW || f == v1::CRITICAL_HIGH; }

// Whole years from `birth` to `at`, or nullopt when the birth date is unknown.
std::optional<int> AgeAt(const std::optional<absl::CivilDay>& birth, absl::Time at) {
  if (!birth) return std::nullopt;
  const absl::CivilDay day = absl::ToCivilDay(at, absl::UTCTimeZone());
  int years = static_cast<int>(day.year() - birth->year());
  if (day.month() < birth->month() ||
      (day.month() == birth->month() && day.day() < birth->day())) {
    --years;
  }
  return std::max(years, 0);
}

// The flag of a numeric value against bounds (in the value's unit).
v1::Flag Against(double value, const std::optional<double>& low,
                 const std::optional<double>& high) {
  if (low && value < *low) return v1::LOW;
  if (high && value > *high) return v1::HIGH;
  return v1::NORMAL;
}

// Validates result `i` and sets what the platform adds: canonical value,
// flag where the laboratory sent none, and its source.
absl::Status CompleteResult(const ReferenceTable& table, const std::string& field,
                            const std::optional<absl::CivilDay>& birth, v1::Sex sex,
                            v1::LabResult* r, absl::Time now) {
  if (!IsLoincCode(r->loinc_code())) {
    return Invalid(field + ".loinc_code", "not a LOINC code (NNNNN-N with its check digit)");
  }
  MERIDIAN_RETURN_IF_ERROR(fields::CheckText(field + ".name", r->name(), kMaxName));
  if (r->status() == v1::RESULT_STATUS_UNSPECIFIED || !v1::ResultStatus_IsValid(r->status())) {
    return Invalid(field + ".status", "must be PRELIMINARY, FINAL, CORRECTED or CANCELLED");
  }
  if (!v1::Flag_IsValid(r->flag())) return Invalid(field + ".flag", "unknown");
  MERIDIAN_RETURN_IF_ERROR(
      fields::CheckTime(field + ".collected_at", r->has_collected_at(), r->collected_at(), now));
  MERIDIAN_RETURN_IF_ERROR(
      fields::CheckTime(field + ".reported_at", r->has_reported_at(), r->reported_at(), now));
  const absl::Time collected = timestamps::FromProto(r->collected_at());
  if (timestamps::FromProto(r->reported_at()) < collected) {
    return Invalid(field + ".reported_at", "before collected_at");
  }
  MERIDIAN_RETURN_IF_ERROR(fields::CheckText(field + ".specimen", r->specimen(), kMaxShortText));
  MERIDIAN_RETURN_IF_ERROR(fields::CheckText(field + ".note", r->note(), kMaxNote));
  MERIDIAN_RETURN_IF_ERROR(fields::CheckText(field + ".unit", r->unit(), kMaxShortText));
  const v1::ReferenceRange& range = r->reference_range();
  MERIDIAN_RETURN_IF_ERROR(
      fields::CheckText(field + ".reference_range.text", range.text(), kMaxShortText));
  if ((range.has_low() && !std::isfinite(range.low())) ||
      (range.has_high() && !std::isfinite(range.high())) ||
      (range.has_low() && range.has_high() && range.low() > range.high())) {
    return Invalid(field + ".reference_range", "low and high must be numbers, low <= high");
  }

  r->clear_flag_source();
  r->clear_canonical_value();
  r->clear_canonical_unit();
  const Analyte* analyte = table.Find(r->loinc_code());
  const bool numeric_test = analyte != nullptr && analyte->kind == Analyte::Kind::kNumeric;
  switch (r->value_case()) {
    case v1::LabResult::VALUE_NOT_SET:
      if (r->status() != v1::CANCELLED) return Invalid(field + ".value", "required");
      break;
    case v1::LabResult::kText:
    case v1::LabResult::kCoded:
      if (numeric_test) {
        return Invalid(field + ".value", "this test is numeric: a number is required");
      }
      MERIDIAN_RETURN_IF_ERROR(fields::CheckText(field + ".text", r->text(), kMaxTextValue));
      MERIDIAN_RETURN_IF_ERROR(
          fields::CheckText(field + ".coded.system", r->coded().system(), kMaxName));
      MERIDIAN_RETURN_IF_ERROR(
          fields::CheckText(field + ".coded.code", r->coded().code(), kMaxShortText));
      MERIDIAN_RETURN_IF_ERROR(
          fields::CheckText(field + ".coded.display", r->coded().display(), kMaxName));
      if (r->has_coded() && r->coded().code().empty()) {
        return Invalid(field + ".coded.code", "required");
      }
      break;
    case v1::LabResult::kNumeric: {
      if (!std::isfinite(r->numeric())) return Invalid(field + ".numeric", "not a number");
      if (analyte != nullptr && !numeric_test) {
        return Invalid(field + ".value", "this test is not numeric");
      }
      if (r->unit().empty()) return Invalid(field + ".unit", "required for a numeric value");
      if (analyte == nullptr) break;
      const auto& units = analyte->units;
      std::optional<double> canonical;
      if (std::find(units.begin(), units.end(), r->unit()) != units.end()) {
        canonical =
            ConvertUnit(r->numeric(), r->unit(), analyte->canonical_unit, analyte->molar_mass);
      }
      if (!canonical) {
        return Invalid(field + ".unit",
                       absl::StrCat("cannot be converted for this analyte (use ",
                                    analyte->canonical_unit, " or another unit of its list)"));
      }
      r->set_canonical_value(*canonical);
      r->set_canonical_unit(analyte->canonical_unit);
      break;
    }
  }

  // Flags: the laboratory's own; else from the result's range, else from
  // the reference table; critical limits from the table in either case.
  const bool lab_flagged = r->flag() != v1::FLAG_UNSPECIFIED;
  r->set_flag_source(lab_flagged ? v1::LABORATORY : v1::NOT_FLAGGED);
  if (r->value_case() != v1::LabResult::kNumeric) return absl::OkStatus();
  if (!lab_flagged && (range.has_low() || range.has_high())) {
    r->set_flag(Against(r->numeric(),
                        range.has_low() ? std::optional<double>(range.low()) : std::nullopt,
                        range.has_high() ? std::optional<double>(range.high()) : std::nullopt));
    r->set_flag_source(v1::RESULT_RANGE);
  }
  if (!r->has_canonical_value()) return absl::OkStatus();
  const ReferenceInterval* interval =
      table.IntervalFor(r->loinc_code(), sex, AgeAt(birth, collected));
  if (interval == nullptr) return absl::OkStatus();
  const double v = r->canonical_value();
  if (!lab_flagged && r->flag_source() == v1::NOT_FLAGGED && (interval->low || interval->high)) {
    r->set_flag(Against(v, interval->low, interval->high));
    r->set_flag_source(v1::REFERENCE_TABLE);
  }
  // A critical value is critical whatever the laboratory flagged.
  if (!Critical(r->flag()) && ((interval->critical_low && v < *interval->critical_low) ||
                               (interval->critical_high && v > *interval->critical_high))) {
    r->set_flag(interval->critical_low && v < *interval->critical_low ? v1::CRITICAL_LOW
                                                                      : v1::CRITICAL_HIGH);
    r->set_flag_source(v1::REFERENCE_TABLE);
  }
  return absl::OkStatus();
}

absl::Status CheckOrganisation(const orgs::Directory& directory, const std::string& field,
                               const std::string& id, bool required) {
  if (id.empty()) return required ? Invalid(field, "required") : absl::OkStatus();
  if (!orgs::IsValidOrganisationId(id) || directory.Find(id) == nullptr) {
    return Invalid(field, "not an institution of the region");
  }
  return absl::OkStatus();
}

absl::Status CheckLoincCodes(const google::protobuf::RepeatedPtrField<std::string>& codes,
                             bool required) {
  if (required && codes.empty()) return Invalid("loinc_codes", "at least one");
  if (codes.size() > kMaxCodesPerQuery) {
    return Invalid("loinc_codes", absl::StrCat("at most ", kMaxCodesPerQuery));
  }
  for (int i = 0; i < codes.size(); ++i) {
    if (!IsLoincCode(codes[i])) {
      return Invalid(absl::StrCat("loinc_codes[", i, "]"), "not a LOINC code");
    }
  }
  return absl::OkStatus();
}

// The [from, to) of a read; INVALID_ARGUMENT naming the bad bound.
absl::Status TimeRange(const google::protobuf::Timestamp& from, bool has_from,
                       const google::protobuf::Timestamp& to, bool has_to, ReportQuery* q) {
  if (has_from && !timestamps::IsValid(from)) return Invalid("from", "not a valid timestamp");
  if (has_to && !timestamps::IsValid(to)) return Invalid("to", "not a valid timestamp");
  if (has_from) q->from = timestamps::FromProto(from);
  if (has_to) q->to = timestamps::FromProto(to);
  if (q->from >= q->to) return Invalid("to", "not after from");
  return absl::OkStatus();
}

absl::StatusOr<v1::LabReport> ReportOf(const StoredReport& s) {
  v1::LabReport r;
  if (!r.ParseFromString(s.row.body)) return absl::InternalError("stored report does not parse");
  return r;
}

}  // namespace

absl::StatusOr<v1::LabReport> Complete(const ReferenceTable& table,
                                       const orgs::Directory& directory,
                                       const std::string& organisation, v1::LabReport report,
                                       absl::Time now) {
  report.set_organisation_id(organisation);
  MERIDIAN_RETURN_IF_ERROR(fields::CheckLocalId("local_id", report.local_id()));
  MERIDIAN_RETURN_IF_ERROR(CheckOrganisation(directory, "patient_organisation_id",
                                             report.patient_organisation_id(), true));
  MERIDIAN_RETURN_IF_ERROR(fields::CheckLocalId("patient_local_id", report.patient_local_id()));
  if (!v1::Sex_IsValid(report.patient_sex())) return Invalid("patient_sex", "unknown");
  std::optional<absl::CivilDay> birth;
  if (!report.patient_birth_date().empty()) {
    birth = fields::ParseDate(report.patient_birth_date());
    if (!birth) return Invalid("patient_birth_date", "must be a date YYYY-MM-DD");
    if (*birth > absl::ToCivilDay(now + fields::kMaxClockSkew, absl::UTCTimeZone()) + 1 ||
        birth->year() < 1880) {
      return Invalid("patient_birth_date", "not a plausible birth date");
    }
  }
  MERIDIAN_RETURN_IF_ERROR(CheckOrganisation(directory, "ordering_organisation_id",
                                             report.ordering_organisation_id(), false));
  MERIDIAN_RETURN_IF_ERROR(
      fields::CheckText("ordering_clinician", report.ordering_clinician(), kMaxShortText));
  MERIDIAN_RETURN_IF_ERROR(fields::CheckTime("ordered_at", report.has_ordered_at(),
                                             report.ordered_at(), now, /*required=*/false));
  if (!report.panel_loinc_code().empty() && !IsLoincCode(report.panel_loinc_code())) {
    return Invalid("panel_loinc_code", "not a LOINC code (NNNNN-N with its check digit)");
  }
  MERIDIAN_RETURN_IF_ERROR(fields::CheckText("panel_name", report.panel_name(), kMaxName));
  if (report.results_size() == 0) return Invalid("results", "at least one result");
  if (report.results_size() > kMaxResults) {
    return Invalid("results", absl::StrCat("at most ", kMaxResults));
  }
  std::set<std::string> seen;
  for (int i = 0; i < report.results_size(); ++i) {
    const std::string field = absl::StrCat("results[", i, "]");
    v1::LabResult* r = report.mutable_results(i);
    MERIDIAN_RETURN_IF_ERROR(
        CompleteResult(table, field, birth, report.patient_sex(), r, now));
    if (!seen.insert(r->loinc_code()).second) {
      return Invalid(field + ".loinc_code", "listed twice in the report");
    }
  }
  return report;
}

Labs::Labs(LabStore* store, xref::XrefStore* xrefs, consent::Checker* consent,
           const orgs::Directory* directory, const ReferenceTable* table, LabsOptions options)
    : store_(store),
      xrefs_(xrefs),
      consent_(consent),
      directory_(directory),
      table_(table),
      options_(std::move(options)) {}

absl::StatusOr<v1::PushResult> Labs::Push(const std::string& organisation,
                                          const v1::LabReport& pushed) {
  MERIDIAN_ASSIGN_OR_RETURN(
      const v1::LabReport report,
      Complete(*table_, *directory_, organisation, pushed, options_.clock()));
  ReportRow row;
  row.organisation_id = organisation;
  row.local_id = report.local_id();
  row.patient_organisation_id = report.patient_organisation_id();
  row.patient_local_id = report.patient_local_id();
  row.collected_at = absl::InfiniteFuture();
  for (const v1::LabResult& r : report.results()) {
    row.collected_at = std::min(row.collected_at, timestamps::FromProto(r.collected_at()));
    row.loinc_codes.push_back(r.loinc_code());
  }
  row.body = report.SerializeAsString();
  MERIDIAN_ASSIGN_OR_RETURN(
      const std::string regional,
      xrefs_->RegionalIdOf({report.patient_organisation_id(), report.patient_local_id()}));
  const outbox::EventHeader header{
      .topic = kLabsTopic,
      .key = absl::StrCat(report.patient_organisation_id(), "/", report.patient_local_id()),
      .source_organisation = organisation,
      .regional_patient_id = regional,
      .producer = kServiceName};
  auto events_for = [&](const WriteResult& written)
      -> absl::StatusOr<std::vector<outbox::PendingEvent>> {
    std::vector<outbox::PendingEvent> events;
    auto add = [&](const char* type, const google::protobuf::Message& payload) -> absl::Status {
      outbox::EventHeader h = header;
      h.type = type;
      MERIDIAN_ASSIGN_OR_RETURN(events::v1::EventEnvelope env, outbox::NewEnvelope(h, payload));
      events.push_back({kLabsTopic, std::move(env)});
      return absl::OkStatus();
    };
    v1::ReportChanged changed;
    changed.set_organisation_id(organisation);
    changed.set_version(written.version);
    *changed.mutable_report() = report;
    MERIDIAN_RETURN_IF_ERROR(
        add(written.outcome == WriteOutcome::kCreated ? "lab.reported" : "lab.corrected", changed));
    for (const v1::LabResult& r : report.results()) {
      if (!Critical(r.flag()) || r.status() == v1::CANCELLED) continue;
      v1::CriticalResult critical;
      critical.set_organisation_id(organisation);
      critical.set_report_local_id(report.local_id());
      critical.set_patient_organisation_id(report.patient_organisation_id());
      critical.set_patient_local_id(report.patient_local_id());
      critical.set_ordering_organisation_id(report.ordering_organisation_id());
      critical.set_ordering_clinician(report.ordering_clinician());
      *critical.mutable_result() = r;
      MERIDIAN_RETURN_IF_ERROR(add("lab.critical", critical));
    }
    return events;
  };
  MERIDIAN_ASSIGN_OR_RETURN(
      const WriteResult written,
      status::RetryIfAborted(options_.max_attempts,
                             [&] { return store_->Write(row, events_for); }));
  v1::PushResult result;
  result.set_outcome(written.outcome == WriteOutcome::kCreated     ? v1::CREATED
                     : written.outcome == WriteOutcome::kUnchanged ? v1::UNCHANGED
                                                                    : v1::UPDATED);
  result.set_version(written.version);
  for (const v1::LabResult& r : report.results()) {
    result.add_flags(r.flag());
    if (Critical(r.flag()) && r.status() != v1::CANCELLED) {
      result.set_critical(result.critical() + 1);
    }
  }
  return result;
}

absl::StatusOr<v1::GetReportHistoryResponse> Labs::GetReportHistory(
    const std::string& organisation, const v1::GetReportHistoryRequest& request) {
  MERIDIAN_RETURN_IF_ERROR(fields::CheckLocalId("local_id", request.local_id()));
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredReport> versions,
                            store_->History(organisation, request.local_id()));
  if (versions.empty()) return absl::NotFoundError("local_id: no such report of yours");
  v1::GetReportHistoryResponse out;
  for (const StoredReport& s : versions) {
    v1::StoredReport* v = out.add_versions();
    MERIDIAN_ASSIGN_OR_RETURN(*v->mutable_report(), ReportOf(s));
    v->set_version(s.version);
    *v->mutable_recorded_at() = timestamps::ToProto(s.recorded_at);
  }
  return out;
}

absl::StatusOr<Labs::Access> Labs::AccessTo(const consent::Accessor& caller,
                                            const std::string& regional_id,
                                            consent::v1::Purpose purpose,
                                            const std::string& break_glass_reason) {
  if (!ids::IsUuid(regional_id)) return Invalid("regional_id", "not a regional patient ID");
  Access access;
  MERIDIAN_ASSIGN_OR_RETURN(access.purpose, consent::ReadPurpose(purpose, break_glass_reason));
  MERIDIAN_ASSIGN_OR_RETURN(access.patients, xrefs_->LocalIdsOf(regional_id));
  if (access.patients.empty()) {
    return absl::NotFoundError("regional_id: no patient with this ID is known here");
  }
  MERIDIAN_ASSIGN_OR_RETURN(access.decision,
                            consent_->Check({.accessor = caller,
                                             .regional_id = regional_id,
                                             .category = consent::v1::LABS,
                                             .purpose = access.purpose,
                                             .break_glass_reason = break_glass_reason}));
  return access;
}

absl::StatusOr<outbox::PendingEvent> Labs::AuditOf(const consent::Accessor& caller,
                                                   const char* operation,
                                                   const std::string& regional_id,
                                                   const Access& access,
                                                   const std::string& break_glass_reason,
                                                   const std::vector<StoredReport>& found) {
  audit::v1::AccessRecorded a = audit::NewAccess(kServiceName, operation, caller, regional_id,
                                                 access.purpose, break_glass_reason);
  audit::AddDecision(consent::v1::LABS, access.decision, &a);
  audit::SetDisclosed(found, [](const StoredReport& s) { return s.row.organisation_id; }, &a);
  return audit::AccessEvent(a);
}

absl::StatusOr<v1::GetPatientResultsResponse> Labs::GetPatientResults(
    const consent::Accessor& caller, const v1::GetPatientResultsRequest& request) {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return Invalid("page_size", absl::StrCat("must be 1-", kMaxPageSize));
  }
  MERIDIAN_RETURN_IF_ERROR(CheckLoincCodes(request.loinc_codes(), false));
  ReportQuery query;
  MERIDIAN_RETURN_IF_ERROR(TimeRange(request.from(), request.has_from(), request.to(),
                                     request.has_to(), &query));
  query.limit = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  query.loinc_codes = {request.loinc_codes().begin(), request.loinc_codes().end()};
  if (!request.page_token().empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(fields::PageKey key,
                              fields::DecodePageToken(request.page_token(), 2));
    query.after = Cursor{key.time, key.keys[0], key.keys[1]};
  }
  const std::string regional_id = absl::AsciiStrToLower(request.regional_id());
  MERIDIAN_ASSIGN_OR_RETURN(
      Access access,
      AccessTo(caller, regional_id, request.purpose(), request.break_glass_reason()));
  query.patients = access.patients;
  query.caller_organisation = caller.organisation_id;
  query.include_other_institutions = access.decision.permitted();
  v1::GetPatientResultsResponse response;
  if (!access.decision.permitted()) response.set_withheld_reason(access.decision.reason);
  MERIDIAN_ASSIGN_OR_RETURN(
      std::vector<StoredReport> found,
      store_->Query(query, [&](const std::vector<StoredReport>& returned)
                               -> absl::StatusOr<std::vector<outbox::PendingEvent>> {
        MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e,
                                  AuditOf(caller, "GetPatientResults", regional_id, access,
                                          request.break_glass_reason(), returned));
        return std::vector<outbox::PendingEvent>{std::move(e)};
      }));
  for (const StoredReport& s : found) {
    MERIDIAN_ASSIGN_OR_RETURN(*response.add_reports(), ReportOf(s));
  }
  if (static_cast<int>(found.size()) == query.limit) {
    const ReportRow& last = found.back().row;
    response.set_next_page_token(
        fields::EncodePageToken(last.collected_at, {last.organisation_id, last.local_id}));
  }
  return response;
}

absl::StatusOr<v1::GetSeriesResponse> Labs::GetSeries(const consent::Accessor& caller,
                                                      const v1::GetSeriesRequest& request) {
  if (!IsLoincCode(request.loinc_code())) return Invalid("loinc_code", "not a LOINC code");
  const Analyte* analyte = table_->Find(request.loinc_code());
  if (analyte == nullptr || analyte->kind != Analyte::Kind::kNumeric) {
    return Invalid("loinc_code", "not a numeric analyte of the reference table");
  }
  ReportQuery query;
  MERIDIAN_RETURN_IF_ERROR(TimeRange(request.from(), request.has_from(), request.to(),
                                     request.has_to(), &query));
  const std::string regional_id = absl::AsciiStrToLower(request.regional_id());
  MERIDIAN_ASSIGN_OR_RETURN(
      Access access,
      AccessTo(caller, regional_id, request.purpose(), request.break_glass_reason()));
  query.patients = access.patients;
  query.caller_organisation = caller.organisation_id;
  query.include_other_institutions = access.decision.permitted();
  query.loinc_codes = {request.loinc_code()};
  query.limit = kMaxScan;
  v1::GetSeriesResponse response;
  response.set_loinc_code(request.loinc_code());
  response.set_unit(analyte->canonical_unit);
  if (!access.decision.permitted()) response.set_withheld_reason(access.decision.reason);
  MERIDIAN_ASSIGN_OR_RETURN(
      std::vector<StoredReport> found,
      store_->Query(query, [&](const std::vector<StoredReport>& returned)
                               -> absl::StatusOr<std::vector<outbox::PendingEvent>> {
        MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e,
                                  AuditOf(caller, "GetSeries", regional_id, access,
                                          request.break_glass_reason(), returned));
        return std::vector<outbox::PendingEvent>{std::move(e)};
      }));
  for (auto it = found.rbegin(); it != found.rend(); ++it) {  // oldest first
    MERIDIAN_ASSIGN_OR_RETURN(v1::LabReport report, ReportOf(*it));
    for (const v1::LabResult& r : report.results()) {
      if (r.loinc_code() != request.loinc_code() || r.status() == v1::CANCELLED ||
          !r.has_canonical_value()) {
        continue;
      }
      v1::SeriesPoint* p = response.add_points();
      *p->mutable_collected_at() = r.collected_at();
      p->set_value(r.canonical_value());
      p->set_flag(r.flag());
      p->set_status(r.status());
      p->set_organisation_id(report.organisation_id());
      p->set_report_local_id(report.local_id());
    }
  }
  std::stable_sort(response.mutable_points()->begin(), response.mutable_points()->end(),
                   [](const v1::SeriesPoint& a, const v1::SeriesPoint& b) {
                     return timestamps::FromProto(a.collected_at()) <
                            timestamps::FromProto(b.collected_at());
                   });
  return response;
}

absl::StatusOr<v1::FindReusableResultsResponse> Labs::FindReusableResults(
    const consent::Accessor& caller, const v1::FindReusableResultsRequest& request) {
  MERIDIAN_RETURN_IF_ERROR(CheckLoincCodes(request.loinc_codes(), true));
  if (request.max_age_hours() < 1 || request.max_age_hours() > kMaxReuseAgeHours) {
    return Invalid("max_age_hours", absl::StrCat("must be 1-", kMaxReuseAgeHours));
  }
  const absl::Time now = options_.clock();
  const std::string regional_id = absl::AsciiStrToLower(request.regional_id());
  MERIDIAN_ASSIGN_OR_RETURN(Access access,
                            AccessTo(caller, regional_id, consent::v1::TREATMENT, ""));
  ReportQuery query;
  query.patients = access.patients;
  query.caller_organisation = caller.organisation_id;
  query.include_other_institutions = access.decision.permitted();
  query.loinc_codes = {request.loinc_codes().begin(), request.loinc_codes().end()};
  query.from = now - absl::Hours(request.max_age_hours());
  query.limit = kMaxScan;
  for (const orgs::Organisation* o : directory_->All()) {
    if (o->lab_accredited()) query.performed_by.push_back(o->id());
  }
  v1::FindReusableResultsResponse response;
  if (!access.decision.permitted()) response.set_withheld_reason(access.decision.reason);
  if (query.performed_by.empty()) {
    *response.mutable_not_found() = request.loinc_codes();
    return response;
  }
  // Within the read's transaction: the newest final result per analyte,
  // each one reused by another institution an event, and the audit event.
  MERIDIAN_ASSIGN_OR_RETURN(
      std::vector<StoredReport> found,
      store_->Query(query, [&](const std::vector<StoredReport>& returned)
                               -> absl::StatusOr<std::vector<outbox::PendingEvent>> {
        response.clear_results();
        std::vector<StoredReport> used;
        for (const std::string& code : request.loinc_codes()) {
          if (std::any_of(response.results().begin(), response.results().end(),
                          [&](const v1::ReusableResult& r) {
                            return r.result().loinc_code() == code;
                          })) {
            continue;  // asked twice
          }
          for (const StoredReport& s : returned) {  // newest first
            MERIDIAN_ASSIGN_OR_RETURN(v1::LabReport report, ReportOf(s));
            auto r = std::find_if(report.results().begin(), report.results().end(),
                                  [&](const v1::LabResult& r) {
                                    return r.loinc_code() == code &&
                                           (r.status() == v1::FINAL ||
                                            r.status() == v1::CORRECTED) &&
                                           timestamps::FromProto(r.collected_at()) >= query.from;
                                  });
            if (r == report.results().end()) continue;
            v1::ReusableResult* out = response.add_results();
            out->set_organisation_id(report.organisation_id());
            out->set_report_local_id(report.local_id());
            *out->mutable_result() = *r;
            used.push_back(s);
            break;
          }
        }
        std::vector<outbox::PendingEvent> events;
        MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent audit,
                                  AuditOf(caller, "FindReusableResults", regional_id, access,
                                          "", used));
        events.push_back(std::move(audit));
        for (const v1::ReusableResult& r : response.results()) {
          if (r.organisation_id() == caller.organisation_id) continue;
          v1::ResultReused reused;
          reused.set_performing_organisation_id(r.organisation_id());
          reused.set_reusing_organisation_id(caller.organisation_id);
          reused.set_report_local_id(r.report_local_id());
          reused.set_loinc_code(r.result().loinc_code());
          *reused.mutable_collected_at() = r.result().collected_at();
          *reused.mutable_reused_at() = timestamps::ToProto(now);
          MERIDIAN_ASSIGN_OR_RETURN(
              events::v1::EventEnvelope env,
              outbox::NewEnvelope({.topic = kLabsTopic,
                                   .type = "lab.reused",
                                   .key = regional_id,
                                   .source_organisation = caller.organisation_id,
                                   .regional_patient_id = regional_id,
                                   .producer = kServiceName},
                                  reused));
          events.push_back({kLabsTopic, std::move(env)});
        }
        return events;
      }));
  (void)found;
  for (const std::string& code : request.loinc_codes()) {
    if (std::none_of(response.results().begin(), response.results().end(),
                     [&](const v1::ReusableResult& r) {
                       return r.result().loinc_code() == code;
                     })) {
      response.add_not_found(code);
    }
  }
  return response;
}

}  // namespace meridian::labs
