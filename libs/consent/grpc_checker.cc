#include "libs/consent/grpc_checker.h"

#include "absl/strings/str_cat.h"
#include "libs/server/client.h"

namespace meridian::consent {

GrpcChecker::GrpcChecker(std::shared_ptr<grpc::Channel> channel, absl::Duration deadline)
    : stub_(v1::Consent::NewStub(std::move(channel))), deadline_(deadline) {}

absl::StatusOr<Decision> GrpcChecker::Check(const AccessRequest& request) {
  v1::CheckRequest r;
  r.set_accessor_organisation(request.accessor.organisation_id);
  r.set_regional_id(request.regional_id);
  r.set_category(request.category);
  r.set_purpose(request.purpose);
  r.set_break_glass_reason(request.break_glass_reason);
  r.set_request_id(request.accessor.request_id);
  v1::CheckResponse response;
  auto ctx = server::NewContext(deadline_, request.accessor.request_id);
  grpc::Status s = stub_->Check(ctx.get(), r, &response);
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    return absl::InvalidArgumentError(s.error_message());
  }
  if (!s.ok()) {
    // Whatever went wrong, no decision: the read fails closed.
    return absl::UnavailableError(absl::StrCat(
        "consent decision unavailable (",
        absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())), "): ",
        s.error_message()));
  }
  Decision d;
  d.effect = response.effect() == v1::PERMIT ? v1::PERMIT : v1::DENY;
  d.decided_by = response.decided_by();
  for (int o : response.obligations()) d.obligations.push_back(static_cast<v1::Obligation>(o));
  d.reason = response.reason();
  return d;
}

}  // namespace meridian::consent
