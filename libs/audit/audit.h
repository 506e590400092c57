// Audit events: every read of personal data writes one "access.recorded"
// event (proto/meridian/audit/v1/events.proto) through the serving service's
// outbox, in the same transaction as the read, so that a read that cannot be
// audited does not happen. The consent service chains them into the
// tamper-evident log.
//
//   audit::v1::AccessRecorded access = ...;
//   outbox::PendingEvent e = *audit::AccessEvent(access);   // then AppendAll
#ifndef MERIDIAN_LIBS_AUDIT_AUDIT_H_
#define MERIDIAN_LIBS_AUDIT_AUDIT_H_

#include "absl/status/statusor.h"
#include <set>
#include <string>

#include "absl/strings/string_view.h"
#include "libs/consent/consent.h"
#include "libs/outbox/outbox.h"
#include "meridian/audit/v1/events.pb.h"

namespace meridian::audit {


inline constexpr char kAuditTopic[] = "meridian.audit.v1";
inline constexpr char kAccessRecorded[] = "access.recorded";

// The outbox event for `access`: keyed by the patient's regional ID, from
// the accessor's organisation. INVALID_ARGUMENT when the service, accessor
// or regional ID is missing.
absl::StatusOr<outbox::PendingEvent> AccessEvent(const v1::AccessRecorded& access);

// The record of one read by `accessor` of `regional_id`'s data, before the
// decisions and what was disclosed are added.
v1::AccessRecorded NewAccess(absl::string_view service, absl::string_view operation,
                             const consent::Accessor& accessor,
                             const std::string& regional_id,
                             consent::v1::Purpose purpose,
                             const std::string& break_glass_reason = "");

// Sets what a read disclosed: the institutions `organisation_of` gives for
// `items` (each once, sorted) and how many items it returned.
template <typename Items, typename OrganisationOf>
void SetDisclosed(const Items& items, const OrganisationOf& organisation_of,
                  v1::AccessRecorded* access) {
  std::set<std::string> organisations;
  for (const auto& item : items) organisations.insert(organisation_of(item));
  access->clear_disclosed_organisations();
  for (const std::string& o : organisations) access->add_disclosed_organisations(o);
  access->set_items_returned(static_cast<int>(items.size()));
}

// Adds the decision about `category` to `access`.
void AddDecision(consent::v1::DataCategory category, const consent::Decision& decision,
                 v1::AccessRecorded* access);

}  // namespace meridian::audit

#endif  // MERIDIAN_LIBS_AUDIT_AUDIT_H_
