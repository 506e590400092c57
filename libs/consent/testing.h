// A consent::Checker for unit tests of read paths: permits or denies per
// category as set, denies otherwise, or fails as an unreachable consent
// service would; remembers every request.
#ifndef MERIDIAN_LIBS_CONSENT_TESTING_H_
#define MERIDIAN_LIBS_CONSENT_TESTING_H_

#include <map>
#include <vector>

#include "libs/consent/consent.h"

namespace meridian::consent::testing {

class FakeChecker : public Checker {
 public:
  absl::StatusOr<Decision> Check(const AccessRequest& r) override {
    requests.push_back(r);
    if (!fail_with.ok()) return fail_with;
    auto it = decisions.find(r.category);
    if (it != decisions.end()) return it->second;
    return Decision{.effect = v1::DENY, .decided_by = "fake:default", .reason = "no directive"};
  }

  void Permit(v1::DataCategory category) {
    decisions[category] = {.effect = v1::PERMIT, .decided_by = "fake:permit"};
  }

  absl::Status fail_with;
  std::map<int, Decision> decisions;
  std::vector<AccessRequest> requests;
};

}  // namespace meridian::consent::testing

#endif  // MERIDIAN_LIBS_CONSENT_TESTING_H_
