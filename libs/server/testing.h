// Helpers for tests that run a chassis server with the development
// certificates from `tools/meridian certs` (MERIDIAN_* environment).
#ifndef MERIDIAN_LIBS_SERVER_TESTING_H_
#define MERIDIAN_LIBS_SERVER_TESTING_H_

#include <string>

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

}  // namespace meridian::server::testing

#endif  // MERIDIAN_LIBS_SERVER_TESTING_H_
