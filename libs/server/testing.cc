#include "libs/server/testing.h"

#include "absl/strings/ascii.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <vector>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

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

std::unique_ptr<Server> LimitedServer(grpc::Service* service,
                                      const orgs::Directory* directory, double per_second) {
  ServerOptions options = TestServerOptions("limited");
  options.rate_limit = per_second;
  options.rate_limit_burst = per_second;
  auto server = std::make_unique<Server>(options, directory);
  server->AddService(service);
  absl::Status started = server->Start();
  if (!started.ok()) {
    std::cerr << "LimitedServer: " << started << std::endl;
    std::abort();
  }
  return server;
}

int64_t ResidentKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

FloodOutcome Flood(int threads,
                   const std::function<grpc::Status(int n, grpc::ClientContext& ctx)>& call,
                   const std::function<void()>& alongside) {
  std::atomic<int> next{0}, accepted{0}, refused{0}, bad{0}, other{0};
  std::atomic<bool> stop{false};
  const absl::Time start = absl::Now();
  std::vector<std::thread> flood;
  for (int t = 0; t < threads; ++t) {
    flood.emplace_back([&] {
      while (!stop) {
        const int n = next++;
        auto ctx = NewContext(absl::Seconds(10));
        grpc::Status s = call(n, *ctx);
        if (s.ok()) {
          ++accepted;
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++refused;
          auto md = ctx->GetServerTrailingMetadata();
          auto it = md.find("grpc-retry-pushback-ms");
          int ms = -1;
          if (it != md.end() && !absl::SimpleAtoi(absl::string_view(it->second.data(),
                                                                    it->second.size()),
                                                  &ms)) {
            ms = -1;
          }
          if (ms < 1 || ms > 1000 ||
              s.error_message().find("retry after") == std::string::npos) {
            ++bad;
          }
        } else {
          ++other;
        }
      }
    });
  }
  alongside();
  stop = true;
  for (std::thread& t : flood) t.join();
  return {accepted.load(), refused.load(), bad.load(), other.load(),
          absl::ToDoubleSeconds(absl::Now() - start)};
}

CapacityRun FloodAlongside(
    const std::function<grpc::Status(int n, grpc::ClientContext& ctx)>& flood,
    const std::function<grpc::Status(int i)>& calm) {
  CapacityRun run;
  const int64_t rss_before = ResidentKb();
  run.flood = Flood(8, flood, [&] {
    for (int i = 0; i < 10; ++i) {
      if (calm(i).ok()) ++run.calm_ok;
      absl::SleepFor(absl::Milliseconds(300));
    }
  });
  run.rss_growth_kb = ResidentKb() - rss_before;
  std::cout << run.flood.accepted << " accepted, " << run.flood.refused << " refused in "
            << run.flood.seconds << " s; RSS +" << run.rss_growth_kb << " kB" << std::endl;
  return run;
}

}  // namespace meridian::server::testing
