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

}  // namespace meridian::audit
