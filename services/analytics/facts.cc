#include "services/analytics/facts.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "meridian/audit/v1/events.pb.h"
#include "meridian/labs/v1/events.pb.h"
#include "meridian/patient/v1/events.pb.h"
#include "meridian/prescriptions/v1/events.pb.h"
#include "meridian/records/v1/events.pb.h"

namespace meridian::analytics {
namespace {

// Days are the region's local days (China Standard Time, no daylight saving).
const absl::TimeZone& RegionZone() {
  static const absl::TimeZone zone = absl::FixedTimeZone(8 * 60 * 60);
  return zone;
}

absl::CivilDay DayOf(const google::protobuf::Timestamp& t) {
  return absl::ToCivilDay(absl::FromUnixSeconds(t.seconds()), RegionZone());
}

// The event's own time when it has one, else the envelope's.
absl::CivilDay DayOf(const google::protobuf::Timestamp& own,
                     const events::v1::EventEnvelope& env) {
  return DayOf(own.seconds() != 0 ? own : env.occurred_at());
}

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

std::string AgeBandOrUnknown(const std::string& band) {
  // The guard turns birth dates into bands ("40-44", "90+"); anything else
  // (a policy that kept or dropped it) counts as unknown, never as a date.
  if (band.empty() || band.size() > 7 || band.find_first_not_of("0123456789-+") !=
                                             std::string::npos) {
    return "unknown";
  }
  return band;
}

std::string LabFlag(labs::v1::Flag flag) {
  switch (flag) {
    case labs::v1::NORMAL:
      return "normal";
    case labs::v1::LOW:
    case labs::v1::HIGH:
    case labs::v1::ABNORMAL:
      return "abnormal";
    case labs::v1::CRITICAL_LOW:
    case labs::v1::CRITICAL_HIGH:
      return "critical";
    default:
      return "unflagged";
  }
}

std::string AtcGroup(const std::string& atc) { return atc.substr(0, 3); }

template <typename T>
absl::StatusOr<T> Unpack(const events::v1::EventEnvelope& env) {
  T message;
  if (!env.payload().UnpackTo(&message)) {
    return absl::InvalidArgumentError(
        absl::StrCat("event ", env.event_id(), " (", env.type(), "): payload is not ",
                     T::descriptor()->full_name()));
  }
  return message;
}

void AddEncounter(const records::v1::EncounterRecorded& e,
                  const events::v1::EventEnvelope& env, Extracted& out) {
  const records::v1::Encounter& enc = e.encounter();
  int64_t delta = 0;
  if (e.version() == 1 && !enc.entered_in_error()) delta = 1;
  if (e.version() > 1 && enc.entered_in_error()) delta = -1;  // withdrawn
  if (delta == 0) return;  // other corrections change no count
  const absl::CivilDay day = DayOf(enc.start_time(), env);
  std::string primary;
  for (const records::v1::Diagnosis& d : enc.diagnoses()) {
    const std::string category = Icd10Category(d.icd10_code());
    if (primary.empty() && d.primary()) primary = category;
    out.facts.push_back({.day = day, .measure = v1::DIAGNOSES,
                         .institution = e.organisation_id(), .code = category,
                         .code_group = Icd10Chapter(category),
                         .flag = d.primary() ? "primary" : "secondary", .delta = delta});
  }
  if (primary.empty() && enc.diagnoses_size() > 0) {
    primary = Icd10Category(enc.diagnoses(0).icd10_code());
  }
  std::string encounter_class = Lower(records::v1::EncounterClass_Name(enc.encounter_class()));
  out.facts.push_back({.day = day, .measure = v1::ENCOUNTERS,
                       .institution = e.organisation_id(), .code = primary,
                       .code_group = Icd10Chapter(primary),
                       .flag = std::move(encounter_class), .delta = delta});
}

void AddPrescription(const prescriptions::v1::PrescriptionChanged& p,
                     const events::v1::EventEnvelope& env, Extracted& out) {
  const absl::CivilDay day = DayOf(p.occurred_at(), env);
  if (env.type() == "prescription.issued") {
    bool antibiotic = false;
    for (const auto& item : p.items()) antibiotic |= item.antibiotic();
    const std::string atc = p.items_size() > 0 ? p.items(0).atc_code() : "";
    out.facts.push_back({.day = day, .measure = v1::PRESCRIPTIONS,
                         .institution = p.organisation_id(), .code = atc,
                         .code_group = AtcGroup(atc),
                         .flag = antibiotic ? "antibiotic" : "other"});
    return;
  }
  if (env.type() == "prescription.dispensed") {
    for (const auto& item : p.items()) {
      if (item.dispensed_now() <= 0) continue;
      out.facts.push_back({.day = day, .measure = v1::DISPENSINGS,
                           .institution = p.actor_organisation(), .code = item.atc_code(),
                           .code_group = AtcGroup(item.atc_code()),
                           .flag = item.antibiotic() ? "antibiotic" : "other"});
    }
  }
}

void AddLabReport(const labs::v1::ReportChanged& r, const events::v1::EventEnvelope& env,
                  Extracted& out) {
  const labs::v1::LabReport& report = r.report();
  std::string sex = "unknown";
  if (report.patient_sex() == labs::v1::MALE) sex = "male";
  if (report.patient_sex() == labs::v1::FEMALE) sex = "female";
  if (sex != "unknown" || !report.patient_birth_date().empty()) {
    out.profile = Profile{sex, AgeBandOrUnknown(report.patient_birth_date())};
  }
  if (env.type() != "lab.reported") return;  // corrections are not new results
  for (const labs::v1::LabResult& result : report.results()) {
    const absl::CivilDay day = DayOf(
        result.collected_at().seconds() != 0 ? result.collected_at() : report.ordered_at(), env);
    out.facts.push_back({.day = day, .measure = v1::LAB_RESULTS,
                         .institution = r.organisation_id(), .code = result.loinc_code(),
                         .code_group = result.loinc_code(), .flag = LabFlag(result.flag())});
  }
}

}  // namespace

std::string ConditionOf(const std::string& category) {
  if (category >= "I10" && category <= "I15" && category.size() == 3) return "hypertension";
  if (category >= "E10" && category <= "E14" && category.size() == 3) return "diabetes";
  return "";
}

std::string Icd10Category(const std::string& code) {
  if (code.size() < 3 || !absl::ascii_isupper(code[0]) || !absl::ascii_isdigit(code[1]) ||
      !absl::ascii_isdigit(code[2])) {
    return "";
  }
  return code.substr(0, 3);
}

std::string Icd10Chapter(const std::string& category) {
  if (Icd10Category(category) != category) return "";
  // First category of each chapter, in code order (WHO ICD-10, 2019).
  static constexpr std::array<std::pair<const char*, const char*>, 22> kStarts = {{
      {"A00", "I"},     {"C00", "II"},   {"D50", "III"},  {"E00", "IV"},
      {"F00", "V"},     {"G00", "VI"},   {"H00", "VII"},  {"H60", "VIII"},
      {"I00", "IX"},    {"J00", "X"},    {"K00", "XI"},   {"L00", "XII"},
      {"M00", "XIII"},  {"N00", "XIV"},  {"O00", "XV"},   {"P00", "XVI"},
      {"Q00", "XVII"},  {"R00", "XVIII"}, {"S00", "XIX"}, {"U00", "XXII"},
      {"V01", "XX"},    {"Z00", "XXI"},
  }};
  const char* chapter = "";
  for (const auto& [start, name] : kStarts) {
    if (category >= start) chapter = name;
  }
  // U86-U99 and V00 belong to no chapter.
  if ((category > "U85" && category < "V01")) return "";
  return chapter;
}

absl::StatusOr<Extracted> Extract(const events::v1::EventEnvelope& env) {
  Extracted out;
  out.patient = env.regional_patient_id();
  out.day = DayOf(env.occurred_at());
  const std::string& type = env.type();
  if (type == "patient.registered") {
    auto e = Unpack<patient::v1::PatientRegistered>(env);
    if (!e.ok()) return e.status();
    const auto& profile = e->profile();
    std::string sex = "unknown";
    if (profile.sex() == patient::v1::SEX_MALE) sex = "male";
    if (profile.sex() == patient::v1::SEX_FEMALE) sex = "female";
    if (profile.sex() == patient::v1::SEX_OTHER) sex = "other";
    out.profile = Profile{sex, AgeBandOrUnknown(profile.birth_date())};
    if (!e->updated()) {
      out.facts.push_back({.day = DayOf(env.occurred_at()), .measure = v1::REGISTRATIONS,
                           .institution = e->organisation_id(),
                           .flag = Lower(patient::v1::MatchDecision_Name(e->decision()))});
    }
  } else if (type == "patient.merged") {
    out.facts.push_back({.day = DayOf(env.occurred_at()), .measure = v1::MERGES,
                         .institution = env.source_organisation()});
  } else if (type == "encounter.recorded") {
    auto e = Unpack<records::v1::EncounterRecorded>(env);
    if (!e.ok()) return e.status();
    AddEncounter(*e, env, out);
  } else if (type == "referral.changed") {
    auto e = Unpack<records::v1::ReferralChanged>(env);
    if (!e.ok()) return e.status();
    const records::v1::Referral& r = e->referral();
    if (e->version() == 1 && r.status() == records::v1::REQUESTED && !r.entered_in_error()) {
      // code: where to; the caller puts its institution type in code_group.
      out.facts.push_back({.day = DayOf(r.requested_at(), env), .measure = v1::REFERRALS,
                           .institution = e->organisation_id(),
                           .code = r.to_organisation_id(), .flag = "requested"});
    }
  } else if (absl::StartsWith(type, "prescription.")) {
    auto e = Unpack<prescriptions::v1::PrescriptionChanged>(env);
    if (!e.ok()) return e.status();
    AddPrescription(*e, env, out);
  } else if (type == "lab.reported" || type == "lab.corrected") {
    auto e = Unpack<labs::v1::ReportChanged>(env);
    if (!e.ok()) return e.status();
    AddLabReport(*e, env, out);
  } else if (type == "lab.reused") {
    auto e = Unpack<labs::v1::ResultReused>(env);
    if (!e.ok()) return e.status();
    out.facts.push_back({.day = DayOf(e->reused_at(), env), .measure = v1::LAB_REUSES,
                         .institution = e->reusing_organisation_id(),
                         .code = e->loinc_code(), .code_group = e->loinc_code(),
                         .flag = "reused"});
  } else if (type == "access.recorded") {
    auto e = Unpack<audit::v1::AccessRecorded>(env);
    if (!e.ok()) return e.status();
    // The record holders other than the reader; the caller turns each into
    // its institution type.
    for (const std::string& holder : e->disclosed_organisations()) {
      if (holder == e->accessor_organisation()) continue;
      out.facts.push_back({.day = DayOf(env.occurred_at()),
                           .measure = v1::CROSS_INSTITUTION_READS,
                           .institution = e->accessor_organisation(), .code = e->service(),
                           .code_group = e->service(), .flag = holder});
    }
  }
  return out;
}

}  // namespace meridian::analytics
