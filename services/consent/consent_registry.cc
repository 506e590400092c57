#include "services/consent/consent_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/ids/uuid.h"
#include "libs/status/status_macros.h"
#include "libs/timestamps/timestamps.h"
#include "meridian/consent/v1/events.pb.h"
#include "services/consent/fhir_consent.h"

namespace meridian::consent {
namespace {


absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::StatusOr<outbox::PendingEvent> DirectiveEvent(const char* type, const std::string& source,
                                                    const v1::Directive& d) {
  v1::DirectiveChanged payload;
  *payload.mutable_directive() = d;
  MERIDIAN_ASSIGN_OR_RETURN(events::v1::EventEnvelope env,
                            outbox::NewEnvelope({.topic = kConsentTopic,
                                                 .type = type,
                                                 .key = d.regional_id(),
                                                 .source_organisation = source,
                                                 .regional_patient_id = d.regional_id(),
                                                 .producer = "consent"},
                                                payload));
  return outbox::PendingEvent{kConsentTopic, std::move(env)};
}

absl::Status ValidateScope(const v1::Directive& d, const orgs::Directory& directory) {
  if (d.effect() != v1::PERMIT && d.effect() != v1::DENY) {
    return Invalid("directive.effect", "must be PERMIT or DENY");
  }
  for (int c : d.categories()) {
    if (c == v1::DATA_CATEGORY_UNSPECIFIED || !v1::DataCategory_IsValid(c)) {
      return Invalid("directive.categories", "unknown category (leave empty for all)");
    }
  }
  for (int p : d.purposes()) {
    if (p == v1::PURPOSE_UNSPECIFIED || !v1::Purpose_IsValid(p)) {
      return Invalid("directive.purposes", "unknown purpose (leave empty for all)");
    }
    if (p == v1::EMERGENCY) {
      return Invalid("directive.purposes",
                     "EMERGENCY is break-the-glass, decided by the hospital, not consented");
    }
  }
  for (int o : d.obligations()) {
    if (o == v1::OBLIGATION_UNSPECIFIED || !v1::Obligation_IsValid(o)) {
      return Invalid("directive.obligations", "unknown obligation");
    }
  }
  const v1::Recipients& r = d.recipients();
  switch (r.recipients_case()) {
    case v1::Recipients::kEveryone:
      if (!r.everyone()) return Invalid("directive.recipients.everyone", "must be true if set");
      break;
    case v1::Recipients::kOrganisations:
      if (r.organisations().ids().empty()) {
        return Invalid("directive.recipients.organisations", "empty");
      }
      for (int i = 0; i < r.organisations().ids_size(); ++i) {
        if (directory.Find(r.organisations().ids(i)) == nullptr) {
          return Invalid(absl::StrCat("directive.recipients.organisations.ids[", i, "]"),
                         "not an institution of the region");
        }
      }
      break;
    case v1::Recipients::kOrganisationTypes:
      if (r.organisation_types().types().empty()) {
        return Invalid("directive.recipients.organisation_types", "empty");
      }
      for (int t : r.organisation_types().types()) {
        if (t == organisations::v1::ORGANISATION_TYPE_UNSPECIFIED ||
            !organisations::v1::OrganisationType_IsValid(t)) {
          return Invalid("directive.recipients.organisation_types", "unknown type");
        }
      }
      break;
    default:
      return Invalid("directive.recipients",
                     "required: everyone, named organisations or organisation types");
  }
  for (const auto* t : {&d.valid_from(), &d.valid_until()}) {
    if (!timestamps::IsValid(*t)) {
      return Invalid(t == &d.valid_from() ? "directive.valid_from" : "directive.valid_until",
                     "not a valid timestamp");
    }
  }
  if (d.has_valid_until() && timestamps::FromProto(d.valid_until()) <= timestamps::FromProto(d.valid_from())) {
    return Invalid("directive.valid_until", "not after valid_from");
  }
  if (d.form_reference().size() > 200) return Invalid("directive.form_reference", "too long");
  return absl::OkStatus();
}

}  // namespace

ConsentRegistry::ConsentRegistry(ConsentStore* store, xref::XrefStore* xrefs,
                                 const orgs::Directory* directory, RegionalDefaults defaults,
                                 std::function<absl::Time()> clock)
    : store_(store), xrefs_(xrefs), directory_(directory), defaults_(std::move(defaults)),
      clock_(std::move(clock)) {}

absl::Status ConsentRegistry::RequireKnows(const Accessor& caller,
                                           const std::string& regional_id) {
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<xref::LocalId> locals, xrefs_->LocalIdsOf(regional_id));
  if (locals.empty()) {
    return absl::NotFoundError("regional_id: no patient with this ID is known");
  }
  if (caller.role == orgs::Role::kPatientPortal || caller.role == orgs::Role::kOperator) {
    return absl::OkStatus();
  }
  for (const xref::LocalId& l : locals) {
    if (l.organisation_id == caller.organisation_id) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      "regional_id: your institution has not registered this patient");
}

absl::StatusOr<v1::Directive> ConsentRegistry::Store(const Accessor& caller,
                                                     v1::Directive directive,
                                                     const std::string& request_key) {
  if (caller.role != orgs::Role::kPatientPortal && caller.role != orgs::Role::kCare) {
    return absl::PermissionDeniedError(
        "only the patient portal or a registering hospital or health centre may grant");
  }
  if (!ids::IsUuid(directive.regional_id())) {
    return Invalid("directive.regional_id", "not a regional patient ID");
  }
  if (caller.role == orgs::Role::kCare && directive.form_reference().empty()) {
    return Invalid("directive.form_reference",
                   "required when an institution records consent on the patient's behalf");
  }
  if (request_key.size() > 128) return Invalid("request_key", "longer than 128 bytes");
  const absl::Time now = clock_();
  if (!directive.has_valid_from()) *directive.mutable_valid_from() = timestamps::ToProto(now);
  MERIDIAN_RETURN_IF_ERROR(ValidateScope(directive, *directory_));
  MERIDIAN_RETURN_IF_ERROR(RequireKnows(caller, directive.regional_id()));
  directive.set_directive_id(ids::NewUuid());
  directive.set_recorded_by(caller.organisation_id);
  *directive.mutable_recorded_at() = timestamps::ToProto(now);
  directive.clear_revoked_at();
  directive.clear_revoked_by();
  return store_->Create(directive, request_key, [&](const v1::Directive& d) {
    return DirectiveEvent("consent.granted", caller.organisation_id, d);
  });
}

absl::StatusOr<v1::Directive> ConsentRegistry::Grant(const Accessor& caller,
                                                     const v1::GrantRequest& request) {
  v1::Directive d = request.directive();
  d.clear_source_reference();
  return Store(caller, std::move(d), request.request_key());
}

absl::StatusOr<v1::Directive> ConsentRegistry::Revoke(const Accessor& caller,
                                                      const v1::RevokeRequest& request) {
  const absl::Status not_found = absl::NotFoundError("directive_id: no such directive");
  if (!ids::IsUuid(request.directive_id())) return not_found;
  if (request.reason().size() > 500) return Invalid("reason", "longer than 500 bytes");
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<v1::Directive> d, store_->Get(request.directive_id()));
  if (!d.has_value()) return not_found;
  if (caller.role != orgs::Role::kPatientPortal && d->recorded_by() != caller.organisation_id) {
    return not_found;  // others may not learn that it exists
  }
  return store_->Revoke(request.directive_id(), caller.organisation_id, request.reason(),
                        clock_(), [&](const v1::Directive& revoked) {
                          return DirectiveEvent("consent.revoked", caller.organisation_id,
                                                revoked);
                        });
}

absl::StatusOr<v1::ListDirectivesResponse> ConsentRegistry::ListDirectives(
    const Accessor& caller, const v1::ListDirectivesRequest& request) {
  if (!ids::IsUuid(request.regional_id())) {
    return Invalid("regional_id", "not a regional patient ID");
  }
  if (caller.role != orgs::Role::kPatientPortal && caller.role != orgs::Role::kOperator &&
      caller.role != orgs::Role::kCare) {
    return absl::PermissionDeniedError("not allowed to read consent directives");
  }
  MERIDIAN_RETURN_IF_ERROR(RequireKnows(caller, request.regional_id()));
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<v1::Directive> ds,
                            store_->ForPatient(request.regional_id(), request.include_revoked()));
  v1::ListDirectivesResponse out;
  for (auto& d : ds) *out.add_directives() = std::move(d);
  return out;
}

absl::StatusOr<v1::Directive> ConsentRegistry::ImportFhirConsent(
    const Accessor& caller, const v1::ImportFhirConsentRequest& request) {
  if (caller.role != orgs::Role::kCare) {
    return absl::PermissionDeniedError("only a hospital or health centre imports FHIR Consent");
  }
  if (request.patient_local_id().empty()) return Invalid("patient_local_id", "required");
  MERIDIAN_ASSIGN_OR_RETURN(
      std::string regional,
      xrefs_->RegionalIdOf({caller.organisation_id, request.patient_local_id()}));
  if (regional.empty()) {
    return absl::NotFoundError(
        "patient_local_id: not registered by your institution with the patient index");
  }
  std::map<std::string, std::string> refs(request.organisation_references().begin(),
                                          request.organisation_references().end());
  MERIDIAN_ASSIGN_OR_RETURN(v1::Directive d, DirectiveFromFhirConsent(request.resource_json(),
                                                                      refs));
  d.set_regional_id(regional);
  const std::string request_key = absl::StrCat("fhir:", d.source_reference());
  return Store(caller, std::move(d), request_key);
}

absl::StatusOr<const orgs::Organisation*> ConsentRegistry::ValidateSubject(
    const std::string& accessor_organisation, const std::string& regional_id) {
  const orgs::Organisation* accessor = directory_->Find(accessor_organisation);
  if (accessor == nullptr) {
    return Invalid("accessor_organisation", "not an institution of the region");
  }
  if (!ids::IsUuid(regional_id)) return Invalid("regional_id", "not a regional patient ID");
  return accessor;
}

absl::StatusOr<v1::CheckResponse> ConsentRegistry::Check(const v1::CheckRequest& request) {
  MERIDIAN_RETURN_IF_ERROR(
      ValidateSubject(request.accessor_organisation(), request.regional_id()));
  if (request.category() == v1::DATA_CATEGORY_UNSPECIFIED ||
      !v1::DataCategory_IsValid(request.category())) {
    return Invalid("category", "required");
  }
  v1::CheckAllRequest all;
  all.set_accessor_organisation(request.accessor_organisation());
  all.set_regional_id(request.regional_id());
  all.add_categories(request.category());
  all.set_purpose(request.purpose());
  all.set_break_glass_reason(request.break_glass_reason());
  all.set_request_id(request.request_id());
  MERIDIAN_ASSIGN_OR_RETURN(v1::CheckAllResponse decided, CheckAll(all));
  return decided.decisions(0);
}

absl::StatusOr<v1::CheckAllResponse> ConsentRegistry::CheckAll(
    const v1::CheckAllRequest& request) {
  MERIDIAN_ASSIGN_OR_RETURN(
      const orgs::Organisation* accessor,
      ValidateSubject(request.accessor_organisation(), request.regional_id()));
  if (request.categories().empty() || request.categories_size() > 8) {
    return Invalid("categories", "1 to 8 categories");
  }
  for (int i = 0; i < request.categories_size(); ++i) {
    const int c = request.categories(i);
    if (c == v1::DATA_CATEGORY_UNSPECIFIED || !v1::DataCategory_IsValid(c)) {
      return Invalid(absl::StrCat("categories[", i, "]"), "not a data category");
    }
  }
  if (request.purpose() == v1::PURPOSE_UNSPECIFIED || !v1::Purpose_IsValid(request.purpose())) {
    return Invalid("purpose", "required");
  }
  if (request.break_glass_reason().size() > 500) {
    return Invalid("break_glass_reason", "longer than 500 bytes");
  }
  // Break-the-glass does not depend on directives: no need to read them.
  std::vector<v1::Directive> directives;
  if (request.purpose() != v1::EMERGENCY) {
    MERIDIAN_ASSIGN_OR_RETURN(directives, store_->ForPatient(request.regional_id(), false));
  }
  const absl::Time now = clock_();
  v1::CheckAllResponse out;
  std::vector<outbox::PendingEvent> notifications;
  for (int c : request.categories()) {
    const auto category = static_cast<v1::DataCategory>(c);
    Decision d = Decide(directives, defaults_,
                        {.accessor_organisation = request.accessor_organisation(),
                         .accessor_type = accessor->type(),
                         .category = category,
                         .purpose = request.purpose(),
                         .break_glass_reason = request.break_glass_reason(),
                         .now = now});
    if (d.permitted() && d.decided_by == kBreakGlass) {
      v1::BreakGlassUsed used;
      used.set_accessor_organisation(request.accessor_organisation());
      used.set_regional_id(request.regional_id());
      used.set_category(category);
      used.set_reason(request.break_glass_reason());
      used.set_request_id(request.request_id());
      MERIDIAN_ASSIGN_OR_RETURN(
          events::v1::EventEnvelope env,
          outbox::NewEnvelope({.topic = kConsentTopic,
                               .type = "consent.break_glass",
                               .key = request.regional_id(),
                               .source_organisation = request.accessor_organisation(),
                               .regional_patient_id = request.regional_id(),
                               .producer = "consent"},
                              used));
      notifications.push_back({kConsentTopic, std::move(env)});
    }
    v1::CheckResponse* r = out.add_decisions();
    r->set_effect(d.effect);
    r->set_decided_by(d.decided_by);
    for (auto o : d.obligations) r->add_obligations(o);
    r->set_reason(d.reason);
  }
  // All notifications or none, before any permit is answered.
  if (!notifications.empty()) MERIDIAN_RETURN_IF_ERROR(store_->Emit(notifications));
  return out;
}

}  // namespace meridian::consent
