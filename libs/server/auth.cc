#include "libs/server/auth.h"

#include <algorithm>

#include "libs/server/rate_limit.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpc/grpc_security_constants.h"

namespace meridian::server {
namespace {

std::string FirstProperty(const grpc::AuthContext& context,
                          const std::string& name) {
  std::vector<grpc::string_ref> values = context.FindPropertyValues(name);
  if (values.empty()) return "";
  return std::string(values[0].data(), values[0].size());
}

}  // namespace

std::string SubjectAttribute(absl::string_view subject,
                             absl::string_view attribute) {
  if (subject.find('\\') != absl::string_view::npos) return "";
  for (absl::string_view part : absl::StrSplit(subject, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, attribute) && absl::ConsumePrefix(&part, "=")) {
      return std::string(part);
    }
  }
  return "";
}

absl::StatusOr<Caller> CallerFromCertificate(absl::string_view cn, absl::string_view ou,
                                             const orgs::Directory& directory) {
  const orgs::Organisation* org = directory.Find(cn);
  if (cn.empty() || org == nullptr) {
    return absl::UnauthenticatedError(
        "client certificate does not name an organisation of this region");
  }
  if (!ou.empty() && ou != organisations::v1::OrganisationType_Name(org->type())) {
    return absl::UnauthenticatedError(
        "client certificate's OU does not match the organisation's type in the directory");
  }
  return Caller{std::string(cn), orgs::RoleOf(org->type()), org};
}

grpc::Status CertificateAuthProcessor::Process(const InputMetadata&,
                                               grpc::AuthContext* context,
                                               OutputMetadata*,
                                               OutputMetadata*) {
  absl::StatusOr<Caller> caller = CallerFromCertificate(
      FirstProperty(*context, GRPC_X509_CN_PROPERTY_NAME),
      SubjectAttribute(FirstProperty(*context, GRPC_X509_SUBJECT_PROPERTY_NAME), "OU"),
      *directory_);
  if (!caller.ok()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(caller.status().message()));
  }
  // The auth context belongs to the connection and is shared by its
  // concurrent calls: read it, never write to it here.
  return grpc::Status::OK;
}

absl::StatusOr<Caller> CallerOf(const grpc::ServerContext& context,
                                const orgs::Directory& directory) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  // The processor has already refused any call whose certificate CN is not
  // an organisation of the directory.
  const std::string id =
      auth == nullptr ? "" : FirstProperty(*auth, GRPC_X509_CN_PROPERTY_NAME);
  const orgs::Organisation* org = directory.Find(id);
  if (org == nullptr) {
    return absl::UnauthenticatedError("caller is not an authenticated organisation");
  }
  return Caller{id, orgs::RoleOf(org->type()), org};
}

absl::Status RequireRole(const Caller& caller,
                         std::initializer_list<orgs::Role> roles) {
  for (orgs::Role r : roles) {
    if (caller.role == r) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "role ", orgs::RoleName(caller.role), " may not call this method"));
}

absl::StatusOr<Caller> Authorise(grpc::ServerContext& context,
                                 const orgs::Directory& directory,
                                 std::initializer_list<orgs::Role> roles) {
  absl::StatusOr<Caller> caller = CallerOf(context, directory);
  if (!caller.ok()) return caller.status();
  absl::Status allowed = RequireRole(*caller, roles);
  if (!allowed.ok()) return allowed;
  if (caller->role != orgs::Role::kService) {
    if (std::shared_ptr<RateLimiter> limit = CallerRateLimit()) {
      const absl::Duration wait = limit->Admit(caller->organisation_id);
      if (wait > absl::ZeroDuration()) {
        const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(
                                                    wait, absl::Milliseconds(1))));
        context.AddTrailingMetadata("grpc-retry-pushback-ms", std::to_string(ms));
        return absl::ResourceExhaustedError(absl::StrCat(
            "rate limit of ", limit->per_second(), " requests/s for ", caller->organisation_id,
            " exceeded: retry after ", ms, " ms"));
      }
    }
  }
  return caller;
}

}  // namespace meridian::server
