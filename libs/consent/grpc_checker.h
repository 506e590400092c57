// The consent client every read path uses: asks the consent service's Check
// over mTLS (the calling service's own certificate, role "service") with a
// deadline. Fails closed: when no answer arrives in time, or the service
// cannot be reached, Check returns UNAVAILABLE and the read must fail.
//
//   auto channel = server::MakeChannel(consent_addr, service_tls);
//   consent::GrpcChecker checker(*channel, absl::Milliseconds(500));
#ifndef MERIDIAN_LIBS_CONSENT_GRPC_CHECKER_H_
#define MERIDIAN_LIBS_CONSENT_GRPC_CHECKER_H_

#include <memory>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "libs/consent/consent.h"
#include "meridian/consent/v1/consent.grpc.pb.h"

namespace meridian::consent {

class GrpcChecker : public Checker {
 public:
  GrpcChecker(std::shared_ptr<grpc::Channel> channel, absl::Duration deadline);
  absl::StatusOr<Decision> Check(const AccessRequest& request) override;
  absl::StatusOr<std::vector<Decision>> CheckAll(
      const AccessRequest& request, const std::vector<v1::DataCategory>& categories) override;

 private:
  std::unique_ptr<v1::Consent::Stub> stub_;
  const absl::Duration deadline_;
};

}  // namespace meridian::consent

#endif  // MERIDIAN_LIBS_CONSENT_GRPC_CHECKER_H_
