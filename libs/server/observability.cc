#include "libs/server/observability.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"
#include "libs/ids/uuid.h"
#include "libs/server/log_writer.h"

namespace meridian::server {
namespace {

constexpr char kRequestIdHeader[] = "x-request-id";

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string OrganisationOf(grpc::ServerContextBase* ctx) {
  if (ctx == nullptr) return "";
  std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context();
  if (auth == nullptr) return "";
  auto values = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  return values.empty() ? "" : std::string(values[0].data(), values[0].size());
}

}  // namespace

bool IsSaneRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
        c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

LogSink StderrLogSink() {
  return [](absl::string_view line) { StderrLogWriter().Write(line); };
}

class RpcObserver : public grpc::experimental::Interceptor {
 public:
  RpcObserver(RpcObserverFactory* factory,
              grpc::experimental::ServerRpcInfo* info)
      : factory_(factory),
        info_(info),
        start_(absl::Now()),
        method_(info->method() == nullptr ? "" : info->method()),
        metrics_(factory->MetricsOf(method_)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* md = methods->GetRecvInitialMetadata();
      auto it = md->find(kRequestIdHeader);
      if (it != md->end() &&
          IsSaneRequestId(absl::string_view(it->second.data(), it->second.size()))) {
        request_id_.assign(it->second.data(), it->second.size());
      } else {
        if (it != md->end()) md->erase(it);
        request_id_ = ids::NewUuid();
        // Handlers read it from the client metadata; the strings live in this
        // interceptor, which outlives the call's handler.
        md->emplace(grpc::string_ref(kRequestIdHeader),
                    grpc::string_ref(request_id_));
      }
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      if (!request_id_.empty()) {
        methods->GetSendInitialMetadata()->emplace(kRequestIdHeader,
                                                   request_id_);
      }
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      Finish(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Finish(grpc::StatusCode code) {
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start_);
    const std::string code_name = CodeName(code);
    factory_->RequestsOf(metrics_, method_, code_name, static_cast<int>(code)).Increment();
    metrics_.duration->Observe(seconds);
    if (factory_->sink_) {
      factory_->sink_(absl::StrCat(
          "{\"ts\":\"", absl::FormatTime(absl::RFC3339_full, absl::Now(),
                                         absl::UTCTimeZone()),
          "\",\"level\":\"", code == grpc::StatusCode::OK ? "info" : "warn",
          "\",\"service\":\"", factory_->service_name_, "\",\"method\":\"",
          method_, "\",\"code\":\"", code_name, "\",\"duration_ms\":",
          seconds * 1000, ",\"organisation\":\"",
          OrganisationOf(info_->server_context()), "\",\"request_id\":\"",
          request_id_, "\"}"));
    }
  }

  RpcObserverFactory* factory_;
  grpc::experimental::ServerRpcInfo* info_;
  const absl::Time start_;
  const std::string method_;
  RpcObserverFactory::MethodMetrics& metrics_;
  std::string request_id_;
};

RpcObserverFactory::RpcObserverFactory(
    std::string service_name, std::shared_ptr<prometheus::Registry> registry,
    LogSink sink)
    : service_name_(std::move(service_name)), sink_(std::move(sink)) {
  requests_ = &prometheus::BuildCounter()
                   .Name("meridian_rpc_requests_total")
                   .Help("gRPC requests by method and status code")
                   .Register(*registry);
  durations_ = &prometheus::BuildHistogram()
                    .Name("meridian_rpc_duration_seconds")
                    .Help("gRPC request latency")
                    .Register(*registry);
}

RpcObserverFactory::MethodMetrics& RpcObserverFactory::MetricsOf(const std::string& method) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = methods_.find(method);
    if (it != methods_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<MethodMetrics>& metrics = methods_[method];
  if (metrics == nullptr) {
    metrics = std::make_unique<MethodMetrics>();
    metrics->duration = &durations_->Add(
        {{"service", service_name_}, {"method", method}},
        // 2 ms and 10 ms are the platform's latency goals (consent Check,
        // registration): bounds there answer them exactly.
        prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.002, 0.0025, 0.005,
                                                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                2.5, 5, 10});
  }
  return *metrics;
}

prometheus::Counter& RpcObserverFactory::RequestsOf(MethodMetrics& metrics,
                                                    const std::string& method,
                                                    const std::string& code_name, int code) {
  auto add = [&]() -> prometheus::Counter& {
    return requests_->Add(
        {{"service", service_name_}, {"method", method}, {"code", code_name}});
  };
  if (code < 0 || code >= static_cast<int>(metrics.requests.size())) return add();
  std::atomic<prometheus::Counter*>& slot = metrics.requests[code];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = &add();  // the same counter whoever adds it first
    slot.store(counter, std::memory_order_release);
  }
  return *counter;
}

grpc::experimental::Interceptor* RpcObserverFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcObserver(this, info);
}

std::string RequestIdOf(const grpc::ServerContext& context) {
  const auto& md = context.client_metadata();
  auto it = md.find(kRequestIdHeader);
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace meridian::server
