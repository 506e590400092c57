// Helpers for tests that run a chassis server with the development
// certificates from `tools/meridian certs` (MERIDIAN_* environment).
#ifndef MERIDIAN_LIBS_SERVER_TESTING_H_
#define MERIDIAN_LIBS_SERVER_TESTING_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/orgs/directory.h"
#include "libs/server/client.h"
#include "libs/server/server.h"

namespace meridian::server::testing {

// The environment variable `name`; aborts with a clear message when unset.
std::string Env(const char* name);

// The development directory (MERIDIAN_ORGANISATIONS); aborts when invalid.
orgs::Directory LoadDirectory();

// Options for a test server: any free port, the development server
// certificate, a silent log, fast health checks.
ServerOptions TestServerOptions(absl::string_view name);

// Client TLS as organisation `who` (a file stem in MERIDIAN_CERTS_DIR, e.g.
// "city-hosp-1", "rogue-client").
ClientTls TlsFor(absl::string_view who);

// The running platform's gRPC address of `service` (e.g. "lab-results"):
// MERIDIAN_LAB_RESULTS_GRPC_ADDR, as `tools/meridian env` writes it.
std::string ServiceAddress(absl::string_view service);

// A plain HTTP/1.0 GET on 127.0.0.1:port; the whole response, "" on error.
std::string HttpGet(int port, const std::string& path);

// A started test server of `service` whose per-institution rate limit is
// `per_second` (and as much burst), for flood tests.
std::unique_ptr<Server> LimitedServer(grpc::Service* service,
                                      const orgs::Directory* directory, double per_second);

// A stub of `Service` on `server` as organisation `who`.
template <typename Service>
std::unique_ptr<typename Service::Stub> StubOn(const Server& server, absl::string_view who) {
  auto channel = MakeChannel(absl::StrCat("127.0.0.1:", server.port()), TlsFor(who));
  if (!channel.ok()) return nullptr;
  return Service::NewStub(*channel);
}

// Resident memory of this process, in kB.
int64_t ResidentKb();

// Whether resident memory says anything about what the code keeps: not
// under AddressSanitizer (its quarantine keeps freed memory resident on
// purpose) nor ThreadSanitizer (its shadow and per-thread access history
// grow with every access). Memory bounds are checked only where it does.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kResidentMemoryIsMeaningful = false;
#else
inline constexpr bool kResidentMemoryIsMeaningful = true;
#endif

// What a flood of calls met.
struct FloodOutcome {
  int accepted = 0;
  int refused = 0;       // RESOURCE_EXHAUSTED with a time to retry
  int bad_refusals = 0;  // RESOURCE_EXHAUSTED without one (grpc-retry-pushback-ms
                         // of 1..1000 ms and "retry after" in the message)
  int other = 0;         // any other outcome
  double seconds = 0;
};

// Calls `call(n, ctx)` from `threads` threads as fast as they go (n numbers
// the calls from 0) while `alongside()` runs on the calling thread, and
// stops when it returns.
FloodOutcome Flood(int threads,
                   const std::function<grpc::Status(int n, grpc::ClientContext& ctx)>& call,
                   const std::function<void()>& alongside);

// One institution at many times its capacity, another served alongside:
// `flood(n, ctx)` from 8 threads as fast as they go while `calm(i)` is called
// ten times, 300 ms apart. Prints the figures.
struct CapacityRun {
  FloodOutcome flood;
  int calm_ok = 0;  // of the ten calm calls
  int64_t rss_growth_kb = 0;
};
CapacityRun FloodAlongside(
    const std::function<grpc::Status(int n, grpc::ClientContext& ctx)>& flood,
    const std::function<grpc::Status(int i)>& calm);

}  // namespace meridian::server::testing

#endif  // MERIDIAN_LIBS_SERVER_TESTING_H_
