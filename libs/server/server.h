// The gRPC server chassis every Meridian service runs on.
//
//   server::Server srv(options, &directory);
//   srv.AddService(&patient_service);
//   srv.AddHealthCheck("postgres", [&] { return pool.Ping(); });
//   srv.AddHealthCheck("kafka", [&] { return kafka::PingBroker(brokers, 2s); });
//   srv.OnShutdown([&] { relay.Stop(); publisher->Flush(10s); });
//   MERIDIAN_RETURN_IF_ERROR(srv.Start());
//   srv.Wait();  // until SIGTERM / SIGINT, then drains and shuts down
//
// What it provides:
// - mTLS only: a client certificate is required and verified against the
//   regional CA; CertificateAuthProcessor (auth.h) maps it to an organisation
//   of the directory and rejects anyone else. Handlers call
//   CallerOf(context, directory).
// - grpc.health.v1 on the main port and, when health_port is set, on a
//   plaintext health-only port for Kubernetes probes (no personal data is
//   served there). Status is NOT_SERVING while any health check fails (the
//   checks run every health_interval) and during shutdown.
// - server reflection; message size limits; keepalive.
// - the request ID, JSON request log and RPC metrics of observability.h, and a
//   Prometheus /metrics endpoint on metrics_port.
// - graceful shutdown on SIGTERM/SIGINT: report NOT_SERVING, stop accepting,
//   let in-flight calls finish for up to shutdown_grace, then run the
//   OnShutdown hooks (stop relays, flush producers) in order.
#ifndef MERIDIAN_LIBS_SERVER_SERVER_H_
#define MERIDIAN_LIBS_SERVER_SERVER_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "libs/config/config.h"
#include "libs/orgs/directory.h"
#include "libs/server/auth.h"
#include "libs/server/observability.h"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace meridian::server {

// The health service name that reports SERVING for as long as the process
// serves, whatever its dependencies say: Kubernetes' liveness probe asks for
// it (restart a stuck process, not one whose database is down), the
// readiness probe for the overall status ("").
inline constexpr char kLivenessService[] = "liveness";

struct ServerOptions {
  std::string service_name;
  std::string listen_host = "127.0.0.1";
  int grpc_port = 0;    // 0: pick a free port (see Server::port())
  int health_port = -1;  // plaintext health-only port; -1: none, 0: any free
  int metrics_port = -1;  // Prometheus exposer; -1: none, 0: any free
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_file;  // CA that signs client certificates
  // A directory of hashed CRL files (<hash>.r0, `openssl rehash`) of that
  // CA: a revoked client certificate fails the handshake. "" for none.
  std::string tls_crl_dir;
  // How often the certificate, key and CA files are read again: a renewed
  // certificate (cert-manager) takes effect without a restart.
  absl::Duration tls_reload_interval = absl::Minutes(1);
  // Requests a second each organisation outside the platform may make
  // (rate_limit.h), with `rate_limit_burst` saved up; 0: no limit.
  double rate_limit = 0;
  double rate_limit_burst = 0;  // 0: twice rate_limit
  // Threads serving calls at most: a call beyond them is refused by gRPC
  // (RESOURCE_EXHAUSTED) instead of queueing without bound.
  int max_threads = 256;
  // Idle gRPC threads kept rather than ended (see Server::Start).
  int max_pollers = 32;
  int max_message_bytes = 4 << 20;
  absl::Duration health_interval = absl::Seconds(2);
  absl::Duration shutdown_grace = absl::Seconds(20);
  LogSink log_sink;  // default: stderr
};

// Reads the chassis settings shared by every service: SERVICE_NAME,
// LISTEN_HOST, GRPC_PORT, HEALTH_PORT, METRICS_PORT, TLS_CERT, TLS_KEY,
// TLS_CA, TLS_CRL_DIR, TLS_RELOAD_INTERVAL, RATE_LIMIT (1000 requests/s per
// organisation), RATE_LIMIT_BURST (twice that), MAX_THREADS (256),
// MAX_MESSAGE_BYTES, HEALTH_INTERVAL, SHUTDOWN_GRACE.
ServerOptions ServerOptionsFromConfig(config::Reader& cfg,
                                      absl::string_view default_name);

class Server {
 public:
  Server(ServerOptions options, const orgs::Directory* directory);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Before Start().
  void AddService(grpc::Service* service);
  void AddHealthCheck(std::string name, std::function<absl::Status()> check);
  void OnShutdown(std::function<void()> hook);

  // Registry for the service's own metrics (and the chassis' own).
  const std::shared_ptr<prometheus::Registry>& metrics() const {
    return registry_;
  }
  // Runs `fn` on every health tick (e.g. to refresh gauges).
  void AddPeriodic(std::function<void()> fn);

  absl::Status Start();
  // Blocks until SIGTERM/SIGINT or Shutdown(), then shuts down gracefully.
  void Wait();
  // Starts the graceful shutdown from any thread; returns at once.
  void Shutdown();

  int port() const { return port_; }
  int health_port() const { return health_port_; }
  int metrics_port() const { return metrics_port_; }
  // Result of the last health round (all checks passed).
  bool serving() const { return serving_; }
  // Runs the health checks now and publishes the result.
  void CheckHealthNow();

 private:
  void HealthLoop();
  void SetServing(bool serving);
  void DoShutdown();

  const ServerOptions options_;
  const orgs::Directory* directory_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<grpc::Service*> services_;
  std::vector<std::pair<std::string, std::function<absl::Status()>>> checks_;
  std::vector<std::function<void()>> periodic_;
  std::vector<std::function<void()>> shutdown_hooks_;

  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Gauge>* health_gauge_ = nullptr;
  int port_ = 0;
  int health_port_ = 0;
  int metrics_port_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  bool shut_down_ = false;
  std::atomic<bool> serving_{false};
  std::thread health_thread_;
};

}  // namespace meridian::server

#endif  // MERIDIAN_LIBS_SERVER_SERVER_H_
