// meridian-outbox-relay: drains one schema's outbox into Kafka.
//
// Services run the relay in-process; this standalone binary serves operators
// (drain a schema after an incident) and the fault tests, which kill it.
//
//   meridian-outbox-relay --schema=patient_index
//   (MERIDIAN_PG_URI, MERIDIAN_KAFKA_BROKERS from the environment)
#include <csignal>
#include <iostream>

#include "libs/config/config.h"
#include "libs/kafka/kafka.h"
#include "libs/outbox/relay.h"
#include "libs/pg/pool.h"

namespace {
meridian::outbox::Relay* g_relay = nullptr;
void OnSignal(int) {
  if (g_relay != nullptr) g_relay->Stop();
}
}  // namespace

int main(int argc, char** argv) {
  meridian::config::Reader cfg =
      meridian::config::Reader::FromProcess(argc, argv);
  const std::string uri = cfg.RequiredString("PG_URI");
  const std::string brokers = cfg.RequiredString("KAFKA_BROKERS");
  const std::string schema = cfg.RequiredString("SCHEMA");
  const int batch = static_cast<int>(cfg.Int("RELAY_BATCH", 5000, 1, 100000));
  cfg.ExitIfInvalid();

  meridian::pg::Pool pool({.uri = uri, .max_connections = 2,
                           .search_path = schema,
                           .application_name = "meridian-outbox-relay"});
  auto publisher = meridian::kafka::MakeKafkaPublisher(
      {.brokers = brokers, .client_id = "meridian-outbox-relay"});
  if (!publisher.ok()) {
    std::cerr << publisher.status() << std::endl;
    return 1;
  }
  meridian::outbox::Relay relay(&pool, publisher->get(), {.batch_size = batch});
  g_relay = &relay;
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  relay.Run([](const absl::Status& s) {
    std::cerr << "{\"level\":\"warn\",\"component\":\"outbox-relay\","
                 "\"code\":\""
              << absl::StatusCodeToString(s.code()) << "\"}" << std::endl;
  });
  (void)(*publisher)->Flush(absl::Seconds(10));
  return 0;
}
