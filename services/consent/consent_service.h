// The gRPC adapter of the consent service.
#ifndef MERIDIAN_SERVICES_CONSENT_CONSENT_SERVICE_H_
#define MERIDIAN_SERVICES_CONSENT_CONSENT_SERVICE_H_

#include "libs/orgs/directory.h"
#include "meridian/consent/v1/consent.grpc.pb.h"
#include "services/consent/audit_log.h"
#include "services/consent/consent_registry.h"

namespace meridian::consent {

class ConsentService final : public v1::Consent::Service {
 public:
  ConsentService(ConsentRegistry* registry, AuditLog* audit, const orgs::Directory* directory)
      : registry_(registry), audit_(audit), directory_(directory) {}

  grpc::Status Grant(grpc::ServerContext* ctx, const v1::GrantRequest* request,
                     v1::Directive* response) override;
  grpc::Status Revoke(grpc::ServerContext* ctx, const v1::RevokeRequest* request,
                      v1::Directive* response) override;
  grpc::Status ListDirectives(grpc::ServerContext* ctx,
                              const v1::ListDirectivesRequest* request,
                              v1::ListDirectivesResponse* response) override;
  grpc::Status ImportFhirConsent(grpc::ServerContext* ctx,
                                 const v1::ImportFhirConsentRequest* request,
                                 v1::Directive* response) override;
  grpc::Status Check(grpc::ServerContext* ctx, const v1::CheckRequest* request,
                     v1::CheckResponse* response) override;
  grpc::Status CheckAll(grpc::ServerContext* ctx, const v1::CheckAllRequest* request,
                        v1::CheckAllResponse* response) override;
  grpc::Status ListAccesses(grpc::ServerContext* ctx, const v1::ListAccessesRequest* request,
                            v1::ListAccessesResponse* response) override;

 private:
  ConsentRegistry* registry_;
  AuditLog* audit_;
  const orgs::Directory* directory_;
};

}  // namespace meridian::consent

#endif  // MERIDIAN_SERVICES_CONSENT_CONSENT_SERVICE_H_
