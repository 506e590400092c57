#include "libs/audit/audit.h"

namespace meridian::audit {

absl::StatusOr<outbox::PendingEvent> AccessEvent(const v1::AccessRecorded& access) {
  if (access.service().empty() || access.accessor_organisation().empty() ||
      access.regional_id().empty()) {
    return absl::InvalidArgumentError(
        "audit event: service, accessor and regional ID are required");
  }
  absl::StatusOr<events::v1::EventEnvelope> env = outbox::NewEnvelope(
      {.topic = kAuditTopic,
       .type = kAccessRecorded,
       .key = access.regional_id(),
       .source_organisation = access.accessor_organisation(),
       .regional_patient_id = access.regional_id(),
       .producer = access.service()},
      access);
  if (!env.ok()) return env.status();
  return outbox::PendingEvent{kAuditTopic, *std::move(env)};
}

v1::AccessRecorded NewAccess(absl::string_view service, absl::string_view operation,
                             const consent::Accessor& accessor,
                             const std::string& regional_id,
                             consent::v1::Purpose purpose,
                             const std::string& break_glass_reason) {
  v1::AccessRecorded access;
  access.set_service(std::string(service));
  access.set_operation(std::string(operation));
  access.set_accessor_organisation(accessor.organisation_id);
  access.set_accessor_role(std::string(orgs::RoleName(accessor.role)));
  access.set_regional_id(regional_id);
  access.set_purpose(purpose);
  access.set_break_glass_reason(break_glass_reason);
  access.set_request_id(accessor.request_id);
  return access;
}

void AddDecision(consent::v1::DataCategory category, const consent::Decision& decision,
                 v1::AccessRecorded* access) {
  v1::CategoryDecision* d = access->add_decisions();
  d->set_category(category);
  d->set_effect(decision.effect);
  d->set_decided_by(decision.decided_by);
  for (consent::v1::Obligation o : decision.obligations) d->add_obligations(o);
}

}  // namespace meridian::audit
