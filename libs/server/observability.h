// Per-RPC observability, installed by the chassis as a gRPC server
// interceptor:
// - a request ID: the caller's `x-request-id` header when it is a sane token
//   (1-64 of [A-Za-z0-9._-]), else a fresh UUID; returned to the caller in the
//   `x-request-id` response header and visible to handlers through
//   RequestIdOf(context);
// - one JSON log line per request: time, service, method, code, duration,
//   calling organisation and request ID. Never the request or the error
//   message, which could carry personal data;
// - Prometheus metrics: meridian_rpc_requests_total{service,method,code} and
//   meridian_rpc_duration_seconds{service,method}.
#ifndef MERIDIAN_LIBS_SERVER_OBSERVABILITY_H_
#define MERIDIAN_LIBS_SERVER_OBSERVABILITY_H_

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace meridian::server {

// Receives each finished log line (without a trailing newline).
using LogSink = std::function<void(absl::string_view line)>;

// Writes to stderr through StderrLogWriter (log_writer.h): a call never
// waits for the write.
LogSink StderrLogSink();

class RpcObserverFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcObserverFactory(std::string service_name,
                     std::shared_ptr<prometheus::Registry> registry,
                     LogSink sink);
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  friend class RpcObserver;
  // One method's metrics, found once: prometheus-cpp's Family::Add builds a
  // label map, hashes it and takes the family's lock at every call.
  struct MethodMetrics {
    prometheus::Histogram* duration = nullptr;
    std::array<std::atomic<prometheus::Counter*>, 17> requests{};  // by code
  };
  MethodMetrics& MetricsOf(const std::string& method);
  prometheus::Counter& RequestsOf(MethodMetrics& metrics, const std::string& method,
                                  const std::string& code_name, int code);

  const std::string service_name_;
  LogSink sink_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* durations_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> methods_
      ABSL_GUARDED_BY(mu_);
};

// The request ID of the current call (see above).
std::string RequestIdOf(const grpc::ServerContext& context);

// True for 1-64 characters of [A-Za-z0-9._-].
bool IsSaneRequestId(absl::string_view id);

}  // namespace meridian::server

#endif  // MERIDIAN_LIBS_SERVER_OBSERVABILITY_H_
