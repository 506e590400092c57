// mTLS channels to Meridian services, for services calling each other, tools
// and tests.
#ifndef MERIDIAN_LIBS_SERVER_CLIENT_H_
#define MERIDIAN_LIBS_SERVER_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace meridian::server {

struct ClientTls {
  std::string ca_file;    // CA that signed the server certificate
  std::string cert_file;  // this client's certificate (names its organisation)
  std::string key_file;
  // Name to verify in the server certificate; the development certificate is
  // issued for "localhost".
  std::string server_name = "localhost";
};

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& target, const ClientTls& tls);

// A context with a deadline (every Meridian client call has one) and an
// optional request ID. The call waits, up to its deadline, for the channel to
// (re)connect (gRPC's wait_for_ready) instead of failing at once while the
// server restarts: with gRPC 1.51 (Debian 12), fail-fast calls made while a
// channel reconnects kept its connection attempts failing, and a client
// stayed UNAVAILABLE for minutes after the service it calls was killed and
// restarted (tests/fault). `fail_fast` keeps gRPC's default, for probes that
// must answer at once (tools/health).
std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout,
                                                const std::string& request_id = "",
                                                bool fail_fast = false);

}  // namespace meridian::server

#endif  // MERIDIAN_LIBS_SERVER_CLIENT_H_
