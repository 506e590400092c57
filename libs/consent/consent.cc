#include "libs/consent/consent.h"

#include <algorithm>

namespace meridian::consent {

bool Decision::Has(v1::Obligation o) const {
  return std::find(obligations.begin(), obligations.end(), o) != obligations.end();
}

absl::StatusOr<std::vector<Decision>> Checker::CheckAll(
    const AccessRequest& request, const std::vector<v1::DataCategory>& categories) {
  std::vector<Decision> out;
  out.reserve(categories.size());
  for (v1::DataCategory c : categories) {
    AccessRequest one = request;
    one.category = c;
    absl::StatusOr<Decision> d = Check(one);
    if (!d.ok()) return d.status();
    out.push_back(*std::move(d));
  }
  return out;
}

absl::StatusOr<Decision> OwnInstitutionOnly::Check(const AccessRequest& request) {
  Decision d;
  d.effect = v1::DENY;
  d.decided_by = "rule:own-institution-only";
  d.reason =
      "no consent service is configured: only your own institution's data is shared";
  return d;
}

std::string CategoryName(v1::DataCategory category) {
  return v1::DataCategory_Name(category);
}

absl::StatusOr<v1::Purpose> ReadPurpose(v1::Purpose requested,
                                        const std::string& break_glass_reason) {
  const v1::Purpose purpose =
      requested == v1::PURPOSE_UNSPECIFIED ? v1::TREATMENT : requested;
  if (!v1::Purpose_IsValid(purpose)) return absl::InvalidArgumentError("purpose: unknown");
  if (purpose == v1::EMERGENCY && break_glass_reason.empty()) {
    return absl::InvalidArgumentError("break_glass_reason: required with purpose EMERGENCY");
  }
  if (purpose != v1::EMERGENCY && !break_glass_reason.empty()) {
    return absl::InvalidArgumentError("break_glass_reason: only with purpose EMERGENCY");
  }
  if (break_glass_reason.size() > 500) {
    return absl::InvalidArgumentError("break_glass_reason: longer than 500 bytes");
  }
  return purpose;
}

std::string PurposeName(v1::Purpose purpose) { return v1::Purpose_Name(purpose); }

}  // namespace meridian::consent
