#include "services/consent/fhir_consent.h"

#include "absl/strings/str_cat.h"
#include "libs/fhir/fhir.h"
#include "nlohmann/json.hpp"

namespace meridian::consent {
namespace {

using nlohmann::json;

absl::Status Invalid(absl::string_view element, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(element, ": ", what));
}

absl::StatusOr<v1::Purpose> PurposeOf(const std::string& code, absl::string_view element) {
  if (code == "TREAT") return v1::TREATMENT;
  if (code == "PUBHLTH") return v1::PUBLIC_HEALTH;
  if (code == "HRESCH" || code == "CLINTRCH") return v1::RESEARCH;
  return Invalid(element, "a purpose Meridian cannot map (TREAT, PUBHLTH, HRESCH, CLINTRCH)");
}

absl::StatusOr<v1::Directive> FromJson(const std::string& text,
                                        const std::map<std::string, std::string>& refs) {
  json r = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (r.is_discarded() || !r.is_object()) {
    return Invalid("resource_json", "not a JSON object");
  }
  if (r.value("resourceType", "") != "Consent") {
    return Invalid("resourceType", "not a Consent");
  }
  if (r.value("status", "") != "active") {
    return Invalid("status", "only an active Consent becomes a directive");
  }
  v1::Directive d;
  const std::string id = r.value("id", "");
  if (!fhir::IsId(id)) return Invalid("id", "required: a FHIR id (1-64 of A-Z a-z 0-9 - .)");
  d.set_source_reference(absl::StrCat("Consent/", id));
  d.set_form_reference(absl::StrCat("fhir:Consent/", id));
  d.set_effect(v1::PERMIT);
  d.mutable_recipients()->set_everyone(true);
  if (!r.contains("provision")) return d;
  const json& p = r["provision"];
  if (!p.is_object()) return Invalid("provision", "not an object");
  if (p.contains("provision")) {
    return Invalid("provision.provision", "nested provisions are not supported");
  }
  const std::string type = p.value("type", "permit");
  if (type == "deny") {
    d.set_effect(v1::DENY);
  } else if (type != "permit") {
    return Invalid("provision.type", "must be deny or permit");
  }
  if (p.contains("period")) {
    const json& period = p["period"];
    if (period.contains("start")) {
      auto t = fhir::ParseTime(period["start"], "provision.period.start");
      if (!t.ok()) return t.status();
      *d.mutable_valid_from() = *t;
    }
    if (period.contains("end")) {
      auto t = fhir::ParseTime(period["end"], "provision.period.end");
      if (!t.ok()) return t.status();
      *d.mutable_valid_until() = *t;
    }
  }
  if (p.contains("actor") && !(p["actor"].is_array() && p["actor"].empty())) {
    // An empty list names no one: everyone, as with no actor at all.
    if (!p["actor"].is_array()) return Invalid("provision.actor", "not an array");
    auto* orgs = d.mutable_recipients()->mutable_organisations();
    for (size_t i = 0; i < p["actor"].size(); ++i) {
      const std::string element = absl::StrCat("provision.actor[", i, "].reference");
      const json& actor = p["actor"][i];
      if (!actor.contains("reference") || !actor["reference"].is_object()) {
        return Invalid(element, "required");
      }
      const std::string ref = actor["reference"].value("reference", "");
      auto it = refs.find(ref);
      if (it == refs.end()) {
        return Invalid(element, "no organisation_references entry maps this reference");
      }
      orgs->add_ids(it->second);
    }
  }
  if (p.contains("purpose")) {
    if (!p["purpose"].is_array()) return Invalid("provision.purpose", "not an array");
    for (size_t i = 0; i < p["purpose"].size(); ++i) {
      const std::string element = absl::StrCat("provision.purpose[", i, "].code");
      auto purpose = PurposeOf(p["purpose"][i].value("code", ""), element);
      if (!purpose.ok()) return purpose.status();
      d.add_purposes(*purpose);
    }
  }
  return d;
}

}  // namespace

absl::StatusOr<v1::Directive> DirectiveFromFhirConsent(
    const std::string& text, const std::map<std::string, std::string>& refs) {
  try {
    return FromJson(text, refs);
  } catch (const nlohmann::json::exception& e) {
    // An element of an unexpected JSON type (a number where a string is due).
    return Invalid("resource_json", "an element has an unexpected type");
  }
}

}  // namespace meridian::consent
