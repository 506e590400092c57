#include "libs/server/standard.h"

#include "libs/kafka/kafka.h"
#include "prometheus/gauge.h"

namespace meridian::server {

void AddStandardChecks(Server& server, pg::Pool& pool,
                       const std::string& kafka_brokers,
                       outbox::Relay* relay) {
  server.AddHealthCheck("postgres", [&pool] { return pool.Ping(); });
  if (!kafka_brokers.empty()) {
    server.AddHealthCheck("kafka", [kafka_brokers] {
      return kafka::PingBroker(kafka_brokers, absl::Seconds(2));
    });
  }
  auto& pool_family = prometheus::BuildGauge()
                          .Name("meridian_pg_pool_connections")
                          .Help("PostgreSQL pool connections by state")
                          .Register(*server.metrics());
  prometheus::Gauge& open = pool_family.Add({{"state", "open"}});
  prometheus::Gauge& in_use = pool_family.Add({{"state", "in_use"}});
  prometheus::Gauge& max = pool_family.Add({{"state", "max"}});
  server.AddPeriodic([&pool, &open, &in_use, &max] {
    pg::PoolStats s = pool.stats();
    open.Set(s.open);
    in_use.Set(s.in_use);
    max.Set(s.max);
  });
  if (relay == nullptr) return;
  prometheus::Gauge& pending = prometheus::BuildGauge()
                                   .Name("meridian_outbox_pending_events")
                                   .Help("Outbox events not yet in Kafka")
                                   .Register(*server.metrics())
                                   .Add({});
  prometheus::Gauge& oldest =
      prometheus::BuildGauge()
          .Name("meridian_outbox_oldest_pending_seconds")
          .Help("Age of the oldest outbox event not yet in Kafka")
          .Register(*server.metrics())
          .Add({});
  server.AddPeriodic([relay, &pending, &oldest] {
    absl::StatusOr<outbox::Lag> lag = relay->GetLag();
    if (!lag.ok()) return;  // the postgres health check reports the outage
    pending.Set(static_cast<double>(lag->pending));
    oldest.Set(absl::ToDoubleSeconds(lag->oldest));
  });
}

}  // namespace meridian::server
