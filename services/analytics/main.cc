// analytics: wiring only (libs/service). Reads the de-identified stream and
// nothing else: no identity cross-reference, no consent client, no outbox.
// Its own settings: ANALYTICS_K (5), ANALYTICS_CONSUMER_GROUP (analytics),
// ANALYTICS_HTTPS_PORT (28443; the JSON API and the dashboard, with the
// chassis's TLS certificate, key and client CA), ANALYTICS_DASHBOARD_DIR
// (build/dashboard, bundled by the build, when it exists).
#include <filesystem>

#include "libs/outbox/outbox.h"
#include "libs/service/log.h"
#include "libs/service/service_main.h"
#include "services/analytics/analytics.h"
#include "services/analytics/analytics_service.h"
#include "services/analytics/store.h"

int main(int argc, char** argv) {
  using namespace meridian;
  return service::Main(
      argc, argv,
      {.name = "analytics",
       .schema = "analytics",
       .topic = "",
       .identity_links = false,
       .migrations = {outbox::MigrationSet(), analytics::MigrationSet()}},
      [](service::Context& c) -> absl::StatusOr<service::Parts> {
        const int k = static_cast<int>(c.cfg.Int("ANALYTICS_K", 5, 2, 1000));
        const std::string group = c.cfg.String("ANALYTICS_CONSUMER_GROUP", "analytics");
        // The same identity, client CA and CRL as the gRPC port.
        analytics::HttpOptions http{
            .host = c.server.listen_host,
            .port = c.cfg.Port("ANALYTICS_HTTPS_PORT", 28443),
            .cert_file = c.server.tls_cert_file,
            .key_file = c.server.tls_key_file,
            .client_ca_file = c.server.tls_ca_file,
            .crl_dir = c.server.tls_crl_dir,
            .static_dir = c.cfg.String("ANALYTICS_DASHBOARD_DIR", "build/dashboard")};
        if (!std::filesystem::is_directory(http.static_dir)) http.static_dir.clear();
        c.cfg.ExitIfInvalid();
        service::Parts parts;
        auto* store = parts.Keep(std::make_unique<analytics::PgAnalyticsStore>(&c.pool));
        if (absl::Status s = store->RunMaintenance(); !s.ok()) return s;
        auto* logic = parts.Keep(std::make_unique<analytics::Analytics>(
            store, &c.directory, analytics::AnalyticsOptions{.k = k}));
        parts.service =
            parts.Keep(std::make_unique<analytics::AnalyticsService>(logic, &c.directory));
        auto* api = parts.Keep(std::make_unique<analytics::HttpApi>(logic, &c.directory, http));
        if (absl::Status s = api->Start(); !s.ok()) return s;
        parts.on_stop.push_back([api] { api->Stop(); });
        parts.periodic.push_back([logic, last = int64_t{-1}]() mutable {
          const int64_t now = logic->counted() + logic->duplicates();
          if (now != last) {
            service::LogFields("info", "analytics", {{"counted", logic->counted()},
                                                     {"duplicates", logic->duplicates()}});
            last = now;
          }
          return absl::OkStatus();
        });
        parts.consumers.push_back(
            {{analytics::kDeidTopic}, group,
             [logic](const kafka::ConsumedMessage& m) {
               absl::Status s = logic->Handle(m);
               if (!s.ok()) {
                 service::LogFields("warn", "analytics",
                                    {{"offset", m.offset}, {"error", s.ToString()}});
               }
               return s;
             },
             "earliest"});
        return parts;
      });
}
