// The consent decision every read path of personal data asks before it
// discloses another institution's data:
//
//   absl::StatusOr<consent::Decision> d = checker->Check(
//       {.accessor = {org, role}, .regional_id = id,
//        .category = consent::v1::DOCUMENTS, .purpose = consent::v1::TREATMENT});
//   if (!d.ok()) return d.status();   // fail closed: UNAVAILABLE, never "allow"
//
// A read path always returns the caller's own institution's data (it holds
// it already) and asks the checker about everyone else's.
#ifndef MERIDIAN_LIBS_CONSENT_CONSENT_H_
#define MERIDIAN_LIBS_CONSENT_CONSENT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/orgs/directory.h"
#include "meridian/consent/v1/decision.pb.h"

namespace meridian::consent {


// Who reads: the caller's institution (from its certificate) and role.
struct Accessor {
  std::string organisation_id;
  orgs::Role role = orgs::Role::kCare;
  // The request ID of the call being served, for the audit trail.
  std::string request_id;
};

struct AccessRequest {
  Accessor accessor;
  std::string regional_id;
  v1::DataCategory category = v1::DATA_CATEGORY_UNSPECIFIED;
  v1::Purpose purpose = v1::PURPOSE_UNSPECIFIED;
  // Required with purpose EMERGENCY.
  std::string break_glass_reason;
};

struct Decision {
  v1::Effect effect = v1::DENY;
  // The directive or rule that decided, for the audit trail.
  std::string decided_by;
  std::vector<v1::Obligation> obligations;
  // Why, in words safe to show the caller (no personal data).
  std::string reason;

  bool permitted() const { return effect == v1::PERMIT; }
  bool Has(v1::Obligation o) const;
};

class Checker {
 public:
  virtual ~Checker() = default;
  // A decision, or an error when none could be reached (UNAVAILABLE,
  // DEADLINE_EXCEEDED): the read must then fail, not proceed.
  virtual absl::StatusOr<Decision> Check(const AccessRequest& request) = 0;

  // Decisions for several categories of one read, in order (`request`'s own
  // category is ignored). The default asks Check once per category; a remote
  // checker answers in one round trip.
  virtual absl::StatusOr<std::vector<Decision>> CheckAll(
      const AccessRequest& request, const std::vector<v1::DataCategory>& categories);
};

// The checker used until the consent service is deployed: it never permits
// access to another institution's data, so a read returns only the caller's
// own. Not a placeholder that allows everything.
class OwnInstitutionOnly : public Checker {
 public:
  absl::StatusOr<Decision> Check(const AccessRequest& request) override;
};

// The purpose of a read as requested: TREATMENT when unset; EMERGENCY needs
// a break-the-glass reason (at most 500 bytes) and no other purpose takes
// one. INVALID_ARGUMENT naming "purpose" or "break_glass_reason".
absl::StatusOr<v1::Purpose> ReadPurpose(v1::Purpose requested,
                                        const std::string& break_glass_reason);

// "RECORDS", "EMERGENCY", ... for logs and errors.
std::string CategoryName(v1::DataCategory category);
std::string PurposeName(v1::Purpose purpose);

}  // namespace meridian::consent

#endif  // MERIDIAN_LIBS_CONSENT_CONSENT_H_
