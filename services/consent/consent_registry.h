// The consent service's logic: directives (grant, revoke, list, FHIR
// import) with their validation and permissions, and the Check decision.
// Knows nothing of gRPC or SQL (consent_service.h is the adapter).
#ifndef MERIDIAN_SERVICES_CONSENT_CONSENT_REGISTRY_H_
#define MERIDIAN_SERVICES_CONSENT_CONSENT_REGISTRY_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "libs/consent/consent.h"
#include "libs/orgs/directory.h"
#include "libs/xref/xref.h"
#include "meridian/consent/v1/consent.pb.h"
#include "services/consent/consent_store.h"
#include "services/consent/policy.h"

namespace meridian::consent {

inline constexpr char kConsentTopic[] = "meridian.consent.v1";

class ConsentRegistry {
 public:
  // Every pointer must outlive this object.
  ConsentRegistry(ConsentStore* store, xref::XrefStore* xrefs, const orgs::Directory* directory,
                  RegionalDefaults defaults,
                  std::function<absl::Time()> clock = [] { return absl::Now(); });

  // The patient portal, or a hospital or health centre that registered the
  // patient (with the signed form's reference), records a directive.
  absl::StatusOr<v1::Directive> Grant(const Accessor& caller, const v1::GrantRequest& request);
  // The portal, or the institution that recorded the directive.
  absl::StatusOr<v1::Directive> Revoke(const Accessor& caller, const v1::RevokeRequest& request);
  // The portal, the operator, or an institution that registered the patient.
  absl::StatusOr<v1::ListDirectivesResponse> ListDirectives(
      const Accessor& caller, const v1::ListDirectivesRequest& request);
  // A FHIR R4 Consent (JSON) from an institution, as a Grant.
  absl::StatusOr<v1::Directive> ImportFhirConsent(const Accessor& caller,
                                                  const v1::ImportFhirConsentRequest& request);

  // The decision for a read path. A granted break-the-glass access also
  // emits a consent.break_glass event (fails if it cannot be recorded).
  absl::StatusOr<v1::CheckResponse> Check(const v1::CheckRequest& request);
  // Several categories at once: the directives are read once.
  absl::StatusOr<v1::CheckAllResponse> CheckAll(const v1::CheckAllRequest& request);

 private:
  absl::StatusOr<v1::Directive> Store(const Accessor& caller, v1::Directive directive,
                                      const std::string& request_key);
  // The accessor's directory entry; INVALID_ARGUMENT for an unknown accessor
  // or a malformed regional ID.
  absl::StatusOr<const orgs::Organisation*> ValidateSubject(
      const std::string& accessor_organisation, const std::string& regional_id);
  // OK when `caller` has registered the patient with the patient index.
  absl::Status RequireKnows(const Accessor& caller, const std::string& regional_id);

  ConsentStore* store_;
  xref::XrefStore* xrefs_;
  const orgs::Directory* directory_;
  const RegionalDefaults defaults_;
  const std::function<absl::Time()> clock_;
};

}  // namespace meridian::consent

#endif  // MERIDIAN_SERVICES_CONSENT_CONSENT_REGISTRY_H_
