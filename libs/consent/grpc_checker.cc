#include "libs/consent/grpc_checker.h"

#include "absl/strings/str_cat.h"
#include "libs/server/client.h"

namespace meridian::consent {

GrpcChecker::GrpcChecker(std::shared_ptr<grpc::Channel> channel, absl::Duration deadline)
    : stub_(v1::Consent::NewStub(std::move(channel))), deadline_(deadline) {}

namespace {

absl::Status Unreachable(const grpc::Status& s) {
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    return absl::InvalidArgumentError(s.error_message());
  }
  // Whatever went wrong, no decision: the read fails closed.
  return absl::UnavailableError(absl::StrCat(
      "consent decision unavailable (",
      absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())), "): ",
      s.error_message()));
}

Decision FromProto(const v1::CheckResponse& response) {
  Decision d;
  d.effect = response.effect() == v1::PERMIT ? v1::PERMIT : v1::DENY;
  d.decided_by = response.decided_by();
  for (int o : response.obligations()) d.obligations.push_back(static_cast<v1::Obligation>(o));
  d.reason = response.reason();
  return d;
}

}  // namespace

absl::StatusOr<Decision> GrpcChecker::Check(const AccessRequest& request) {
  absl::StatusOr<std::vector<Decision>> one = CheckAll(request, {request.category});
  if (!one.ok()) return one.status();
  return std::move(one->front());
}

absl::StatusOr<std::vector<Decision>> GrpcChecker::CheckAll(
    const AccessRequest& request, const std::vector<v1::DataCategory>& categories) {
  v1::CheckAllRequest r;
  r.set_accessor_organisation(request.accessor.organisation_id);
  r.set_regional_id(request.regional_id);
  for (v1::DataCategory c : categories) r.add_categories(c);
  r.set_purpose(request.purpose);
  r.set_break_glass_reason(request.break_glass_reason);
  r.set_request_id(request.accessor.request_id);
  v1::CheckAllResponse response;
  auto ctx = server::NewContext(deadline_, request.accessor.request_id);
  grpc::Status s = stub_->CheckAll(ctx.get(), r, &response);
  if (!s.ok()) return Unreachable(s);
  if (response.decisions_size() != static_cast<int>(categories.size())) {
    return absl::UnavailableError("consent: a decision per category was expected");
  }
  std::vector<Decision> out;
  for (const auto& d : response.decisions()) out.push_back(FromProto(d));
  return out;
}

}  // namespace meridian::consent
