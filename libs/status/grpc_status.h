// Mapping between absl::Status (used everywhere inside Meridian) and
// grpc::Status (used only at the gRPC edge). The numeric codes are identical by
// design; these functions keep the conversion in one place.
#ifndef MERIDIAN_LIBS_STATUS_GRPC_STATUS_H_
#define MERIDIAN_LIBS_STATUS_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace meridian {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace meridian

#endif  // MERIDIAN_LIBS_STATUS_GRPC_STATUS_H_
