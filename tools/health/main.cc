// meridian_health: one line per component of the local platform — PostgreSQL,
// Kafka and every service of deploy/services.tsv (gRPC health over mTLS as
// the operator organisation). Exit code 0 only when everything is serving.
//
//   eval "$(tools/meridian env)"; build/tools/health/meridian_health
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/config/config.h"
#include "libs/kafka/kafka.h"
#include "libs/pg/pool.h"
#include "libs/server/client.h"

namespace {

void Report(const std::string& name, const std::string& where,
            const absl::Status& s, bool* all_ok) {
  std::cout << absl::StrCat(name, std::string(std::max<int>(1, 18 - name.size()), ' '),
                            s.ok() ? "SERVING     " : "NOT_SERVING ", where,
                            s.ok() ? "" : absl::StrCat("  (", s.message(), ")"))
            << std::endl;
  *all_ok = *all_ok && s.ok();
}

}  // namespace

int main(int argc, char** argv) {
  meridian::config::Reader cfg =
      meridian::config::Reader::FromProcess(argc, argv);
  const std::string pg_uri = cfg.RequiredString("PG_URI");
  const std::string brokers = cfg.RequiredString("KAFKA_BROKERS");
  const std::string certs = cfg.RequiredString("CERTS_DIR");
  const std::string root = cfg.RequiredString("ROOT");
  cfg.ExitIfInvalid();

  bool all_ok = true;
  meridian::pg::Pool pool({.uri = pg_uri + "?connect_timeout=3",
                           .max_connections = 1,
                           .application_name = "meridian-health"});
  Report("postgres", pg_uri, pool.Ping(), &all_ok);
  Report("kafka", brokers,
         meridian::kafka::PingBroker(brokers, absl::Seconds(3)), &all_ok);

  std::ifstream services(root + "/deploy/services.tsv");
  std::string line;
  while (std::getline(services, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (cols.size() < 2) continue;
    const std::string target = absl::StrCat("127.0.0.1:", cols[1]);
    auto channel = meridian::server::MakeChannel(
        target, {certs + "/ca.pem", certs + "/meridian-ops.pem",
                 certs + "/meridian-ops.key"});
    absl::Status status;
    if (!channel.ok()) {
      status = channel.status();
    } else {
      auto stub = grpc::health::v1::Health::NewStub(*channel);
      grpc::health::v1::HealthCheckResponse resp;
      auto ctx = meridian::server::NewContext(absl::Seconds(3), "", /*fail_fast=*/true);
      grpc::Status s =
          stub->Check(ctx.get(), grpc::health::v1::HealthCheckRequest(), &resp);
      if (!s.ok()) {
        status = absl::UnavailableError(s.error_message());
      } else if (resp.status() !=
                 grpc::health::v1::HealthCheckResponse::SERVING) {
        status = absl::UnavailableError("reports NOT_SERVING");
      }
    }
    Report(cols[0], target, status, &all_ok);
  }
  return all_ok ? 0 : 1;
}
