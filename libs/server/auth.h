// Who is calling: the organisation and role named by the caller's client
// certificate, checked against the organisation directory.
//
// The chassis installs CertificateAuthProcessor on its TLS credentials; it runs
// before every call, after the TLS handshake has verified the certificate
// chain against the regional CA (and its validity dates). It accepts the call
// only when the certificate's CN names an organisation in the directory and
// its OU (when present) equals that organisation's type; otherwise the call
// ends with UNAUTHENTICATED. Handlers then ask CallerOf(context).
#ifndef MERIDIAN_LIBS_SERVER_AUTH_H_
#define MERIDIAN_LIBS_SERVER_AUTH_H_

#include <initializer_list>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/server_context.h"
#include "libs/orgs/directory.h"

namespace meridian::server {

struct Caller {
  std::string organisation_id;
  orgs::Role role = orgs::Role::kCare;
  const orgs::Organisation* organisation = nullptr;  // from the directory
};

class CertificateAuthProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit CertificateAuthProcessor(const orgs::Directory* directory)
      : directory_(directory) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context, OutputMetadata* consumed,
                       OutputMetadata* response) override;

 private:
  const orgs::Directory* directory_;
};

// The organisation a verified certificate names: its CN must be in the
// directory, and its OU, when present, that organisation's type.
// UNAUTHENTICATED otherwise. (For other transports than gRPC, e.g. HTTPS.)
absl::StatusOr<Caller> CallerFromCertificate(absl::string_view cn, absl::string_view ou,
                                             const orgs::Directory& directory);

// The caller of the current RPC. UNAUTHENTICATED when the call did not pass
// CertificateAuthProcessor (which cannot happen on a chassis server).
absl::StatusOr<Caller> CallerOf(const grpc::ServerContext& context,
                                const orgs::Directory& directory);

// PERMISSION_DENIED unless the caller has one of `roles`.
absl::Status RequireRole(const Caller& caller,
                         std::initializer_list<orgs::Role> roles);

// CallerOf, then RequireRole, then the caller's rate limit (rate_limit.h;
// not for the platform's own services): the first line of every handler.
// Over the limit: RESOURCE_EXHAUSTED saying when to retry, and the trailing
// metadata grpc-retry-pushback-ms.
absl::StatusOr<Caller> Authorise(grpc::ServerContext& context,
                                 const orgs::Directory& directory,
                                 std::initializer_list<orgs::Role> roles);

// Parses "CN=x,OU=y,O=z" (RFC 2253, as gRPC reports x509_subject) and returns
// the value of `attribute`, or "" when absent. Escaped commas are not
// supported: a subject containing one yields "" for every attribute.
std::string SubjectAttribute(absl::string_view subject,
                             absl::string_view attribute);

}  // namespace meridian::server

#endif  // MERIDIAN_LIBS_SERVER_AUTH_H_
