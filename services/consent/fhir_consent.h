// FHIR R4 Consent (JSON) -> a consent directive.
//
// Mapped: status (only "active"), provision.type (deny, else permit),
// provision.period (validity), provision.actor references to organisations
// (recipients, through `organisation_references`; none: everyone),
// provision.purpose (v3 ActReason TREAT, PUBHLTH, HRESCH, CLINTRCH), the
// resource id (source_reference "Consent/<id>", form_reference
// "fhir:Consent/<id>"). Categories are all (FHIR's Consent.category says
// what kind of consent the document is, not which data). Not taken, and
// refused with INVALID_ARGUMENT naming the element: nested provisions,
// purposes we cannot map, actors without a mapping. The patient reference is
// resolved by the caller (the importing institution's local ID).
#ifndef MERIDIAN_SERVICES_CONSENT_FHIR_CONSENT_H_
#define MERIDIAN_SERVICES_CONSENT_FHIR_CONSENT_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "meridian/consent/v1/consent.pb.h"

namespace meridian::consent {

absl::StatusOr<v1::Directive> DirectiveFromFhirConsent(
    const std::string& json, const std::map<std::string, std::string>& organisation_references);

}  // namespace meridian::consent

#endif  // MERIDIAN_SERVICES_CONSENT_FHIR_CONSENT_H_
