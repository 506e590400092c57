// The caller of a gRPC method as the consent decision sees it: its
// institution and role from its client certificate (server::Authorise) and
// the call's request ID.
//
//   absl::StatusOr<consent::Accessor> caller =
//       consent::AuthoriseAccessor(*ctx, *directory_, {orgs::Role::kCare});
//   if (!caller.ok()) return ToGrpcStatus(caller.status());
#ifndef MERIDIAN_LIBS_CONSENT_ACCESSOR_H_
#define MERIDIAN_LIBS_CONSENT_ACCESSOR_H_

#include <initializer_list>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "libs/consent/consent.h"
#include "libs/orgs/directory.h"

namespace meridian::consent {

// PERMISSION_DENIED / UNAUTHENTICATED as server::Authorise decides.
absl::StatusOr<Accessor> AuthoriseAccessor(grpc::ServerContext& ctx,
                                           const orgs::Directory& directory,
                                           std::initializer_list<orgs::Role> roles);

}  // namespace meridian::consent

#endif  // MERIDIAN_LIBS_CONSENT_ACCESSOR_H_
