// Thin adapters: the Analytics logic over gRPC (AnalyticsService) and over
// HTTPS with protobuf's JSON mapping (HttpApi). Both admit only the health
// authority and operators, identified by their client certificate.
#ifndef MERIDIAN_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_
#define MERIDIAN_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "libs/orgs/directory.h"
#include "meridian/analytics/v1/analytics.grpc.pb.h"
#include "services/analytics/analytics.h"

namespace httplib {
class SSLServer;
}

namespace meridian::analytics {

class AnalyticsService final : public v1::Analytics::Service {
 public:
  AnalyticsService(Analytics* logic, const orgs::Directory* directory)
      : logic_(logic), directory_(directory) {}
  grpc::Status Query(grpc::ServerContext* ctx, const v1::QueryRequest* request,
                     v1::QueryResponse* response) override;
  grpc::Status GetIndicator(grpc::ServerContext* ctx, const v1::IndicatorRequest* request,
                            v1::IndicatorResponse* response) override;

 private:
  Analytics* logic_;
  const orgs::Directory* directory_;
};

struct HttpOptions {
  std::string host = "0.0.0.0";
  int port = 0;  // 0: any free port (see port())
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // client certificates are required
  // A directory of hashed CRL files (TLS_CRL_DIR, as the gRPC ports use):
  // a revoked client certificate fails the handshake. "" for none.
  std::string crl_dir;
  // Files served under / (index.html, the bundled script); "" for none.
  std::string static_dir;
  size_t max_body_bytes = 64 << 10;
};

// POST /v1/query and /v1/indicator take and return JSON; errors are JSON
// {"code": "INVALID_ARGUMENT", "message": ...} with the matching HTTP status.
class HttpApi {
 public:
  HttpApi(Analytics* logic, const orgs::Directory* directory, HttpOptions options);
  ~HttpApi();

  // Binds and serves on a thread of its own.
  absl::Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  Analytics* logic_;
  const orgs::Directory* directory_;
  const HttpOptions options_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace meridian::analytics

#endif  // MERIDIAN_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_
