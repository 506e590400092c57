// Mapping between absl::Status (used everywhere inside Meridian) and
// grpc::Status (used only at the gRPC edge). The numeric codes are identical by
// design; these functions keep the conversion in one place.
#ifndef MERIDIAN_LIBS_STATUS_GRPC_STATUS_H_
#define MERIDIAN_LIBS_STATUS_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"

namespace meridian {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// The end of a gRPC handler: the value into `*response`, or the error.
//   return ReplyWith(logic_->Get(*request), response);
template <typename T>
grpc::Status ReplyWith(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace meridian

#endif  // MERIDIAN_LIBS_STATUS_GRPC_STATUS_H_
