#include "libs/server/client.h"


#include "absl/strings/str_cat.h"
#include "libs/config/config.h"

namespace meridian::server {
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& target, const ClientTls& tls) {
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = config::ReadFile(tls.ca_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (!tls.cert_file.empty()) {
    absl::StatusOr<std::string> cert = config::ReadFile(tls.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = config::ReadFile(tls.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(tls.server_name);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  // A service that restarts is back within seconds: try to reconnect
  // within seconds too (gRPC's default backoff grows to 120 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  // Responses of Meridian services stay within 16 MiB (bulk results, pages).
  args.SetMaxReceiveMessageSize(16 << 20);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
}

std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout,
                                                const std::string& request_id,
                                                bool fail_fast) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(timeout));
  ctx->set_wait_for_ready(!fail_fast);
  if (!request_id.empty()) ctx->AddMetadata("x-request-id", request_id);
  return ctx;
}

}  // namespace meridian::server
