#include "absl/strings/str_cat.h"
#include "libs/timestamps/timestamps.h"
#include "libs/status/status_macros.h"
#include "services/consent/consent_store.h"

namespace meridian::consent {

absl::StatusOr<v1::Directive> InMemoryConsentStore::Create(const v1::Directive& directive,
                                                           const std::string& request_key,
                                                           const EventFor& event_for) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = absl::StrCat(directive.recorded_by(), "/", request_key);
  if (!request_key.empty()) {
    auto it = by_request_key_.find(key);
    if (it != by_request_key_.end()) {
      for (const auto& d : directives_) {
        if (d.directive_id() == it->second) return d;
      }
    }
  }
  MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, event_for(directive));
  directives_.push_back(directive);
  if (!request_key.empty()) by_request_key_[key] = directive.directive_id();
  events_.push_back(std::move(e));
  return directive;
}

absl::StatusOr<v1::Directive> InMemoryConsentStore::Revoke(const std::string& directive_id,
                                                           const std::string& by,
                                                           const std::string& reason,
                                                           absl::Time at,
                                                           const EventFor& event_for) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& d : directives_) {
    if (d.directive_id() != directive_id) continue;
    if (d.has_revoked_at()) return d;
    v1::Directive revoked = d;
    *revoked.mutable_revoked_at() = timestamps::ToProto(at);
    revoked.set_revoked_by(by);
    revoked.set_revoke_reason(reason);
    MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, event_for(revoked));
    d = revoked;
    events_.push_back(std::move(e));
    return d;
  }
  return absl::NotFoundError("directive_id: no such directive");
}

absl::StatusOr<std::optional<v1::Directive>> InMemoryConsentStore::Get(
    const std::string& directive_id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& d : directives_) {
    if (d.directive_id() == directive_id) return std::optional<v1::Directive>(d);
  }
  return std::optional<v1::Directive>();
}

absl::StatusOr<std::vector<v1::Directive>> InMemoryConsentStore::ForPatient(
    const std::string& regional_id, bool include_revoked) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::Directive> out;
  for (const auto& d : directives_) {
    if (d.regional_id() == regional_id && (include_revoked || !d.has_revoked_at())) {
      out.push_back(d);
    }
  }
  return out;
}

absl::Status InMemoryConsentStore::Emit(const std::vector<outbox::PendingEvent>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.insert(events_.end(), events.begin(), events.end());
  return absl::OkStatus();
}

std::vector<outbox::PendingEvent> InMemoryConsentStore::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

}  // namespace meridian::consent
