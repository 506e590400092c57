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

std::string PurposeName(v1::Purpose purpose) { return v1::Purpose_Name(purpose); }

}  // namespace meridian::consent
