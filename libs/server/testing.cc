#include "libs/server/testing.h"

#include "absl/strings/ascii.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"

namespace meridian::server::testing {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    std::cerr << name << " is not set: run through `tools/meridian test`\n";
    std::abort();
  }
  return v;
}

orgs::Directory LoadDirectory() {
  auto d = orgs::Directory::LoadFile(Env("MERIDIAN_ORGANISATIONS"));
  if (!d.ok()) {
    std::cerr << d.status() << std::endl;
    std::abort();
  }
  return *std::move(d);
}

ServerOptions TestServerOptions(absl::string_view name) {
  ServerOptions o;
  o.service_name = std::string(name);
  o.tls_cert_file = Env("MERIDIAN_TLS_CERT");
  o.tls_key_file = Env("MERIDIAN_TLS_KEY");
  o.tls_ca_file = Env("MERIDIAN_TLS_CA");
  o.tls_crl_dir = Env("MERIDIAN_TLS_CRL_DIR");
  o.health_interval = absl::Milliseconds(200);
  o.shutdown_grace = absl::Seconds(5);
  o.log_sink = [](absl::string_view) {};
  return o;
}

std::string ServiceAddress(absl::string_view service) {
  std::string var = "MERIDIAN_";
  for (char c : service) var += c == '-' ? '_' : absl::ascii_toupper(c);
  return Env((var + "_GRPC_ADDR").c_str());
}

ClientTls TlsFor(absl::string_view who) {
  const std::string dir = Env("MERIDIAN_CERTS_DIR");
  return ClientTls{absl::StrCat(dir, "/ca.pem"), absl::StrCat(dir, "/", who, ".pem"),
                   absl::StrCat(dir, "/", who, ".key")};
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string req =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: localhost\r\n\r\n");
  if (write(fd, req.data(), req.size()) < 0) {
    close(fd);
    return "";
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  return out;
}

}  // namespace meridian::server::testing
