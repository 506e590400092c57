#include "services/consent/policy.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/timestamps/timestamps.h"

namespace meridian::consent {
namespace {

using organisations::v1::OrganisationType;


bool IsHospital(OrganisationType t) {
  return t == organisations::v1::TERTIARY_HOSPITAL ||
         t == organisations::v1::SECONDARY_HOSPITAL;
}

// How specifically `d` names the request's recipient (0: not at all).
int RecipientMatch(const v1::Recipients& r, const PolicyRequest& q) {
  switch (r.recipients_case()) {
    case v1::Recipients::kOrganisations: {
      const auto& ids = r.organisations().ids();
      return std::find(ids.begin(), ids.end(), q.accessor_organisation) != ids.end() ? 3 : 0;
    }
    case v1::Recipients::kOrganisationTypes: {
      const auto& types = r.organisation_types().types();
      return std::find(types.begin(), types.end(), q.accessor_type) != types.end() ? 2 : 0;
    }
    case v1::Recipients::kEveryone:
      return r.everyone() ? 1 : 0;
    default:
      return 0;
  }
}

// 0: not included; 1: included as "all"; 2: named.
template <typename List, typename T>
int Includes(const List& list, T value) {
  if (list.empty()) return 1;
  return std::find(list.begin(), list.end(), value) != list.end() ? 2 : 0;
}

}  // namespace

absl::StatusOr<RegionalDefaults> RegionalDefaults::Parse(const std::string& spec) {
  RegionalDefaults out;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    std::vector<std::string> kv = absl::StrSplit(entry, '=');
    v1::Purpose purpose;
    if (kv.size() != 2 || !v1::Purpose_Parse(std::string(absl::StripAsciiWhitespace(kv[0])),
                                             &purpose) ||
        purpose == v1::PURPOSE_UNSPECIFIED || purpose == v1::EMERGENCY) {
      return absl::InvalidArgumentError(
          absl::StrCat("consent defaults: '", entry,
                       "' is not PURPOSE=permit|deny (TREATMENT, PUBLIC_HEALTH, RESEARCH)"));
    }
    const std::string effect = absl::AsciiStrToLower(absl::StripAsciiWhitespace(kv[1]));
    if (effect != "permit" && effect != "deny") {
      return absl::InvalidArgumentError(
          absl::StrCat("consent defaults: '", entry, "': the effect is permit or deny"));
    }
    out.by_purpose[purpose] = effect == "permit" ? v1::PERMIT : v1::DENY;
  }
  return out;
}

bool IsActive(const v1::Directive& d, absl::Time now) {
  if (d.has_revoked_at()) return false;
  if (d.has_valid_from() && timestamps::FromProto(d.valid_from()) > now) return false;
  if (d.has_valid_until() && timestamps::FromProto(d.valid_until()) <= now) return false;
  return true;
}

Decision Decide(const std::vector<v1::Directive>& directives,
                const RegionalDefaults& defaults, const PolicyRequest& q) {
  Decision out;
  if (q.purpose == v1::EMERGENCY) {
    if (q.break_glass_reason.empty()) {
      out.effect = v1::DENY;
      out.decided_by = kBreakGlass;
      out.reason = "an emergency access needs a written reason";
    } else if (!IsHospital(q.accessor_type)) {
      out.effect = v1::DENY;
      out.decided_by = kBreakGlass;
      out.reason = "only a treating hospital may break the glass";
    } else {
      out.effect = v1::PERMIT;
      out.decided_by = kBreakGlass;
      out.reason = "emergency access: audited and notified to the patient";
    }
    return out;
  }
  using Rank = std::tuple<int, int, int>;
  Rank best{0, 0, 0};
  const v1::Directive* winner = nullptr;
  for (const v1::Directive& d : directives) {
    if (!IsActive(d, q.now)) continue;
    const int recipient = RecipientMatch(d.recipients(), q);
    const int category = Includes(d.categories(), q.category);
    const int purpose = Includes(d.purposes(), q.purpose);
    if (recipient == 0 || category == 0 || purpose == 0) continue;
    const Rank rank{recipient, category, purpose};
    if (winner == nullptr || rank > best ||
        (rank == best && d.effect() == v1::DENY && winner->effect() != v1::DENY)) {
      best = rank;
      winner = &d;
    }
  }
  if (winner != nullptr) {
    out.effect = winner->effect();
    out.decided_by = absl::StrCat("directive:", winner->directive_id());
    for (int o : winner->obligations()) out.obligations.push_back(static_cast<v1::Obligation>(o));
    out.reason = winner->effect() == v1::PERMIT ? "permitted by the patient's directive"
                                                : "the patient's directive refuses this";
    if (out.effect != v1::PERMIT) out.obligations.clear();
    return out;
  }
  auto it = defaults.by_purpose.find(q.purpose);
  out.effect = it == defaults.by_purpose.end() ? v1::DENY : it->second;
  out.decided_by = absl::StrCat("default:", v1::Purpose_Name(q.purpose));
  out.reason = out.effect == v1::PERMIT ? "the regional default permits this purpose"
                                        : "this purpose needs the patient's consent";
  return out;
}

}  // namespace meridian::consent
