#include "libs/consent/accessor.h"

#include "libs/server/auth.h"
#include "libs/server/observability.h"

namespace meridian::consent {

absl::StatusOr<Accessor> AuthoriseAccessor(grpc::ServerContext& ctx,
                                           const orgs::Directory& directory,
                                           std::initializer_list<orgs::Role> roles) {
  absl::StatusOr<server::Caller> caller = server::Authorise(ctx, directory, roles);
  if (!caller.ok()) return caller.status();
  return Accessor{caller->organisation_id, caller->role, server::RequestIdOf(ctx)};
}

}  // namespace meridian::consent
