#include "services/consent/consent_service.h"

#include "libs/server/auth.h"
#include "libs/server/observability.h"
#include "libs/status/grpc_status.h"

namespace meridian::consent {
namespace {

using orgs::Role;

absl::StatusOr<Accessor> Authorise(grpc::ServerContext& ctx,
                                   const orgs::Directory& directory,
                                   std::initializer_list<Role> roles) {
  absl::StatusOr<server::Caller> caller = server::Authorise(ctx, directory, roles);
  if (!caller.ok()) return caller.status();
  return Accessor{caller->organisation_id, caller->role, server::RequestIdOf(ctx)};
}

}  // namespace

grpc::Status ConsentService::Grant(grpc::ServerContext* ctx, const v1::GrantRequest* request,
                                   v1::Directive* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kPatientPortal, Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(registry_->Grant(*caller, *request), response);
}

grpc::Status ConsentService::Revoke(grpc::ServerContext* ctx, const v1::RevokeRequest* request,
                                    v1::Directive* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kPatientPortal, Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(registry_->Revoke(*caller, *request), response);
}

grpc::Status ConsentService::ListDirectives(grpc::ServerContext* ctx,
                                            const v1::ListDirectivesRequest* request,
                                            v1::ListDirectivesResponse* response) {
  auto caller =
      Authorise(*ctx, *directory_, {Role::kPatientPortal, Role::kCare, Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(registry_->ListDirectives(*caller, *request), response);
}

grpc::Status ConsentService::ImportFhirConsent(grpc::ServerContext* ctx,
                                               const v1::ImportFhirConsentRequest* request,
                                               v1::Directive* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(registry_->ImportFhirConsent(*caller, *request), response);
}

grpc::Status ConsentService::Check(grpc::ServerContext* ctx, const v1::CheckRequest* request,
                                   v1::CheckResponse* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kService});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(registry_->Check(*request), response);
}

grpc::Status ConsentService::CheckAll(grpc::ServerContext* ctx,
                                      const v1::CheckAllRequest* request,
                                      v1::CheckAllResponse* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kService});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(registry_->CheckAll(*request), response);
}

grpc::Status ConsentService::ListAccesses(grpc::ServerContext* ctx,
                                          const v1::ListAccessesRequest* request,
                                          v1::ListAccessesResponse* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kPatientPortal, Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(audit_->ListAccesses(*request), response);
}

}  // namespace meridian::consent
