#include "libs/server/server.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "libs/server/rate_limit.h"

namespace meridian::server {
namespace {

std::atomic<bool> g_signalled{false};

void OnSignal(int) { g_signalled = true; }

}  // namespace

ServerOptions ServerOptionsFromConfig(config::Reader& cfg,
                                      absl::string_view default_name) {
  ServerOptions o;
  o.service_name = cfg.String("SERVICE_NAME", default_name);
  o.listen_host = cfg.String("LISTEN_HOST", "127.0.0.1");
  o.grpc_port = cfg.Port("GRPC_PORT", 50051);
  o.health_port = static_cast<int>(cfg.Int("HEALTH_PORT", -1, -1, 65535));
  o.metrics_port = static_cast<int>(cfg.Int("METRICS_PORT", -1, -1, 65535));
  o.tls_cert_file = cfg.RequiredFile("TLS_CERT");
  o.tls_key_file = cfg.RequiredFile("TLS_KEY");
  o.tls_ca_file = cfg.RequiredFile("TLS_CA");
  o.tls_crl_dir = cfg.String("TLS_CRL_DIR", "");
  o.tls_reload_interval = cfg.Duration("TLS_RELOAD_INTERVAL", absl::Minutes(1));
  o.rate_limit = static_cast<double>(cfg.Int("RATE_LIMIT", 1000, 0, 1000000));
  o.rate_limit_burst = static_cast<double>(cfg.Int("RATE_LIMIT_BURST", 0, 0, 10000000));
  o.max_threads = static_cast<int>(cfg.Int("MAX_THREADS", 256, 8, 4096));
  o.max_pollers = static_cast<int>(cfg.Int("MAX_POLLERS", 32, 2, 4096));
  o.max_message_bytes = static_cast<int>(
      cfg.Int("MAX_MESSAGE_BYTES", 4 << 20, 1024, 64 << 20));
  o.health_interval = cfg.Duration("HEALTH_INTERVAL", absl::Seconds(2));
  o.shutdown_grace = cfg.Duration("SHUTDOWN_GRACE", absl::Seconds(20));
  return o;
}

Server::Server(ServerOptions options, const orgs::Directory* directory)
    : options_(std::move(options)),
      directory_(directory),
      registry_(std::make_shared<prometheus::Registry>()) {}

Server::~Server() {
  Shutdown();
  DoShutdown();
}

void Server::AddService(grpc::Service* service) { services_.push_back(service); }

void Server::AddHealthCheck(std::string name,
                            std::function<absl::Status()> check) {
  checks_.emplace_back(std::move(name), std::move(check));
}

void Server::OnShutdown(std::function<void()> hook) {
  shutdown_hooks_.push_back(std::move(hook));
}

void Server::AddPeriodic(std::function<void()> fn) {
  periodic_.push_back(std::move(fn));
}

absl::Status Server::Start() {
  absl::StatusOr<std::string> cert = config::ReadFile(options_.tls_cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = config::ReadFile(options_.tls_key_file);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> ca = config::ReadFile(options_.tls_ca_file);
  if (!ca.ok()) return ca.status();

  if (!options_.tls_crl_dir.empty() && access(options_.tls_crl_dir.c_str(), R_OK | X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read the CRL directory ",
                                            options_.tls_crl_dir));
  }
  // The files are read now (above: a missing one stops the start) and again
  // every tls_reload_interval, so a renewed certificate or CA bundle is
  // served without a restart.
  auto files = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options_.tls_key_file, options_.tls_cert_file, options_.tls_ca_file,
      static_cast<unsigned int>(
          std::max<int64_t>(1, absl::ToInt64Seconds(options_.tls_reload_interval))));
  grpc::experimental::TlsServerCredentialsOptions tls(files);
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!options_.tls_crl_dir.empty()) tls.set_crl_directory(options_.tls_crl_dir);
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::experimental::TlsServerCredentials(tls);
  creds->SetAuthMetadataProcessor(
      std::make_shared<CertificateAuthProcessor>(directory_));

  SetCallerRateLimit(options_.rate_limit > 0
                         ? std::make_shared<RateLimiter>(
                               options_.rate_limit, options_.rate_limit_burst > 0
                                                        ? options_.rate_limit_burst
                                                        : 2 * options_.rate_limit)
                         : nullptr);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  builder.AddListeningPort(
      absl::StrCat(options_.listen_host, ":", options_.grpc_port), creds,
      &port_);
  grpc::ResourceQuota quota(options_.service_name);
  quota.SetMaxThreads(options_.max_threads);
  builder.SetResourceQuota(quota);
  // gRPC's sync server ends a worker thread that finishes a call while more
  // than MAX_POLLERS (default 2) threads poll, and starts one when fewer than
  // MIN_POLLERS do: under steady load that is a thread created and ended
  // every few calls (about 1% of the machine in a registration profile).
  // Threads that stay are cheap: only one polls at a time, the rest wait.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              options_.max_pollers);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  for (grpc::Service* s : services_) builder.RegisterService(s);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<RpcObserverFactory>(
      options_.service_name, registry_,
      options_.log_sink ? options_.log_sink : StderrLogSink()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        options_.service_name, ": cannot listen on ", options_.listen_host,
        ":", options_.grpc_port));
  }

  if (options_.health_port >= 0) {
    grpc::ServerBuilder hb;
    hb.AddListeningPort(
        absl::StrCat(options_.listen_host, ":", options_.health_port),
        grpc::InsecureServerCredentials(), &health_port_);
    health_server_ = hb.BuildAndStart();
    if (health_server_ == nullptr || health_port_ == 0) {
      return absl::UnavailableError(absl::StrCat(
          options_.service_name, ": cannot listen on health port ",
          options_.health_port));
    }
  }

  health_gauge_ = &prometheus::BuildGauge()
                       .Name("meridian_dependency_up")
                       .Help("1 when the named dependency's health check passes")
                       .Register(*registry_);
  if (options_.metrics_port >= 0) {
    try {
      exposer_ = std::make_unique<prometheus::Exposer>(
          absl::StrCat(options_.listen_host, ":", options_.metrics_port));
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(
          options_.service_name, ": cannot listen on metrics port ",
          options_.metrics_port));
    }
    exposer_->RegisterCollectable(registry_);
    metrics_port_ = exposer_->GetListeningPorts().at(0);
  }

  CheckHealthNow();
  health_thread_ = std::thread([this] { HealthLoop(); });
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  if (options_.log_sink) {
    options_.log_sink(absl::StrCat("{\"level\":\"info\",\"service\":\"",
                                   options_.service_name,
                                   "\",\"event\":\"started\",\"port\":", port_,
                                   "}"));
  }
  return absl::OkStatus();
}

void Server::SetServing(bool serving) {
  serving_ = serving;
  for (grpc::Server* s : {server_.get(), health_server_.get()}) {
    if (s != nullptr && s->GetHealthCheckService() != nullptr) {
      s->GetHealthCheckService()->SetServingStatus(serving);
      s->GetHealthCheckService()->SetServingStatus(kLivenessService, true);
    }
  }
}

void Server::CheckHealthNow() {
  bool ok = true;
  for (const auto& [name, check] : checks_) {
    bool up = check().ok();
    health_gauge_->Add({{"dependency", name}}).Set(up ? 1 : 0);
    ok = ok && up;
  }
  for (const auto& fn : periodic_) fn();
  std::lock_guard<std::mutex> lock(mu_);
  if (!stopping_) SetServing(ok);
}

void Server::HealthLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.health_interval));
    if (stopping_) break;
    lock.unlock();
    CheckHealthNow();
    lock.lock();
  }
}

void Server::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  cv_.notify_all();
}

void Server::Wait() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      if (g_signalled) stopping_ = true;
    }
  }
  DoShutdown();
}

void Server::DoShutdown() {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    SetServing(false);
    cv_.notify_all();
  }
  if (health_thread_.joinable()) health_thread_.join();
  // Stops accepting calls; in-flight calls get until the deadline, then are
  // cancelled.
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(options_.shutdown_grace));
  server_->Wait();
  for (const auto& hook : shutdown_hooks_) hook();
  if (health_server_ != nullptr) {
    health_server_->Shutdown(std::chrono::system_clock::now());
    health_server_->Wait();
  }
  exposer_.reset();
}

}  // namespace meridian::server
