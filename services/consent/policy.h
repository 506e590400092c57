// The consent decision, as a pure function of a patient's directives, the
// regional defaults and the request. Knows nothing of gRPC or SQL.
//
// A directive applies when it is active at the time of the request (not
// revoked, valid_from <= now < valid_until) and its recipients, categories
// and purposes include the request's. Of the directives that apply, the most
// specific decides: recipients named by institution beat institution types,
// which beat "everyone"; then a named category beats "all categories"; then a
// named purpose beats "all purposes". At equal specificity deny beats
// permit. When none applies, the regional default for the purpose decides
// (opt-in: deny, opt-out: permit).
//
// Break-the-glass: purpose EMERGENCY with a written reason, asked by a
// hospital, is permitted whatever the directives say (the caller audits it
// at high priority and notifies the patient); without a reason, or by any
// other kind of institution, it is denied.
#ifndef MERIDIAN_SERVICES_CONSENT_POLICY_H_
#define MERIDIAN_SERVICES_CONSENT_POLICY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/consent/consent.h"
#include "meridian/consent/v1/consent.pb.h"
#include "meridian/organisations/v1/organisations.pb.h"

namespace meridian::consent {

struct PolicyRequest {
  std::string accessor_organisation;
  organisations::v1::OrganisationType accessor_type =
      organisations::v1::ORGANISATION_TYPE_UNSPECIFIED;
  v1::DataCategory category = v1::DATA_CATEGORY_UNSPECIFIED;
  v1::Purpose purpose = v1::PURPOSE_UNSPECIFIED;
  std::string break_glass_reason;
  absl::Time now;
};

// The regional default effect per purpose (EMERGENCY is never defaulted).
struct RegionalDefaults {
  std::map<v1::Purpose, v1::Effect> by_purpose = {
      {v1::TREATMENT, v1::PERMIT},      // opt-out
      {v1::PUBLIC_HEALTH, v1::PERMIT},  // opt-out
      {v1::RESEARCH, v1::DENY},         // opt-in
  };

  // "TREATMENT=permit,RESEARCH=deny,...": INVALID_ARGUMENT naming the entry.
  static absl::StatusOr<RegionalDefaults> Parse(const std::string& spec);
};

inline constexpr char kBreakGlass[] = "break-the-glass";

bool IsActive(const v1::Directive& d, absl::Time now);

Decision Decide(const std::vector<v1::Directive>& directives,
                const RegionalDefaults& defaults, const PolicyRequest& request);

}  // namespace meridian::consent

#endif  // MERIDIAN_SERVICES_CONSENT_POLICY_H_
