#include "libs/service/service_main.h"

#include <iostream>
#include <thread>

#include "absl/synchronization/mutex.h"

#include "libs/audit/audit.h"
#include "libs/consent/grpc_checker.h"
#include "libs/kafka/kafka.h"
#include "libs/outbox/relay.h"
#include "libs/server/client.h"
#include "libs/server/server.h"
#include "libs/server/standard.h"
#include "libs/service/kafka_settings.h"
#include "libs/service/log.h"
#include "libs/service/migrate_only.h"

namespace meridian::service {

int Main(int argc, char** argv, const Spec& spec, const Builder& build) {
  // Debian's Abseil is built without NDEBUG, which leaves Mutex's deadlock
  // detection on: a lock-graph update on every Lock, gRPC's own included
  // (about 2% of a busy service's CPU in a profile of patient-index). Off in
  // the services' processes only; tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto fail = [&](const absl::Status& s) {
    return FailStart(spec.name, s);
  };
  config::Reader cfg = config::Reader::FromProcess(argc, argv);
  if (std::optional<int> code =
          MigrateOnlyIfAsked(cfg, spec.name, spec.schema, spec.migrations)) {
    return *code;
  }
  const std::string pg_uri = cfg.RequiredString("PG_URI");
  const KafkaSettings kafka_settings = ReadKafkaSettings(cfg);
  const std::string& brokers = kafka_settings.brokers;
  const std::string directory_file = cfg.RequiredFile("ORGANISATIONS");
  const int pool_size = static_cast<int>(cfg.Int("PG_POOL_SIZE", 16, 1, 200));
  const std::string consent_addr =
      spec.identity_links ? cfg.RequiredString("CONSENT_GRPC_ADDR") : "";
  const std::string certs_dir = cfg.String("CERTS_DIR", "");
  const std::string consent_cert =
      cfg.String("CONSENT_CLIENT_CERT", certs_dir + "/svc-" + spec.name + ".pem");
  const std::string consent_key =
      cfg.String("CONSENT_CLIENT_KEY", certs_dir + "/svc-" + spec.name + ".key");
  const std::string tls_ca = cfg.RequiredFile("TLS_CA");
  const int consent_deadline_ms =
      static_cast<int>(cfg.Int("CONSENT_DEADLINE_MS", 500, 10, 10000));
  const std::string xref_group = cfg.String("XREF_CONSUMER_GROUP", spec.name + "-xref");
  cfg.Set("MAX_MESSAGE_BYTES",
          cfg.String("MAX_MESSAGE_BYTES", std::to_string(spec.max_message_bytes)));
  server::ServerOptions server_options = server::ServerOptionsFromConfig(cfg, spec.name);
  cfg.ExitIfInvalid();

  UseKafkaIdentity(kafka_settings);
  absl::StatusOr<orgs::Directory> directory = orgs::Directory::LoadFile(directory_file);
  if (!directory.ok()) return fail(directory.status());
  pg::Pool pool({.uri = pg_uri,
                 .max_connections = pool_size,
                 .search_path = spec.schema,
                 .application_name = spec.name});
  absl::StatusOr<int> migrated = pg::Migrate(pool, spec.schema, spec.migrations);
  if (!migrated.ok()) return fail(migrated.status());
  std::vector<kafka::TopicSpec> needed;
  if (!spec.topic.empty()) needed.push_back({spec.topic, 6, 1});
  if (spec.identity_links) {
    needed.insert(needed.end(), {{audit::kAuditTopic, 6, 1},
                                 {xref::kPatientTopic, 6, 1},
                                 {std::string(xref::kPatientTopic) + ".dlt", 1, 1}});
  }
  if (absl::Status topics = EnsureTopics(kafka_settings, needed); !topics.ok()) {
    return fail(topics);
  }
  auto publisher = kafka::MakeKafkaPublisher({.brokers = brokers, .client_id = spec.name});
  if (!publisher.ok()) return fail(publisher.status());
  // The identity cross-reference, fed by the patient index's events, and
  // the consent client.
  std::unique_ptr<kafka::Consumer> xref_consumer;
  std::unique_ptr<xref::PgXrefStore> xrefs;
  std::unique_ptr<consent::GrpcChecker> consent;
  if (spec.identity_links) {
    auto made = kafka::MakeKafkaConsumer({.brokers = brokers,
                                          .group_id = xref_group,
                                          .topics = {xref::kPatientTopic},
                                          .client_id = spec.name},
                                         publisher->get());
    if (!made.ok()) return fail(made.status());
    xref_consumer = *std::move(made);
    xrefs = std::make_unique<xref::PgXrefStore>(&pool);
    auto consent_channel =
        server::MakeChannel(consent_addr, {tls_ca, consent_cert, consent_key});
    if (!consent_channel.ok()) return fail(consent_channel.status());
    consent = std::make_unique<consent::GrpcChecker>(*consent_channel,
                                                     absl::Milliseconds(consent_deadline_ms));
  }

  Context context{cfg, *directory, pool, xrefs.get(), consent.get(), **publisher,
                  server_options};
  absl::StatusOr<Parts> parts = build(context);
  if (!parts.ok()) return fail(parts.status());
  cfg.ExitIfInvalid();  // the service's own settings

  std::vector<std::unique_ptr<kafka::Consumer>> own_consumers;
  for (const service::Consumer& c : parts->consumers) {
    std::vector<kafka::TopicSpec> consumed;
    for (const std::string& t : c.topics) {
      consumed.push_back({t, 6, 1});
      consumed.push_back({t + ".dlt", 1, 1});
    }
    absl::Status ensured = EnsureTopics(kafka_settings, consumed);
    if (!ensured.ok()) return fail(ensured);
    auto made = kafka::MakeKafkaConsumer(
        {.brokers = brokers,
         .group_id = c.group_id,
         .topics = c.topics,
         .auto_offset_reset = c.start_at,
         .client_id = spec.name},
        publisher->get());
    if (!made.ok()) return fail(made.status());
    own_consumers.push_back(*std::move(made));
  }

  std::unique_ptr<outbox::Relay> relay;
  if (!spec.topic.empty()) relay = std::make_unique<outbox::Relay>(&pool, publisher->get());
  std::vector<std::thread> threads;
  if (relay != nullptr) threads.emplace_back([&] { relay->Run(); });
  if (xref_consumer != nullptr) {
    threads.emplace_back([&] {
      absl::Status s = xref_consumer->RunBatched(
          xref::BatchEventHandler(xrefs.get(), xref_group),
          xref::EventHandler(xrefs.get(), xref_group), 500);
      if (!s.ok()) LogError(spec.name, s);
    });
  }
  for (size_t i = 0; i < own_consumers.size(); ++i) {
    threads.emplace_back([&, i] {
      const service::Consumer& c = parts->consumers[i];
      absl::Status s = c.batch_handler
                           ? own_consumers[i]->RunBatched(c.batch_handler, c.handler, c.max_batch)
                           : own_consumers[i]->Run(c.handler);
      if (!s.ok()) LogError(spec.name, s);
    });
  }
  auto stop_background = [&] {
    for (const auto& fn : parts->on_stop) fn();
    if (relay != nullptr) relay->Stop();
    if (xref_consumer != nullptr) xref_consumer->Stop();
    for (auto& c : own_consumers) c->Stop();
    for (std::thread& t : threads) {
      if (t.joinable()) t.join();
    }
  };

  server::Server srv(server_options, &*directory);
  if (parts->service != nullptr) srv.AddService(parts->service);
  server::AddStandardChecks(srv, pool, brokers, relay.get());
  for (const auto& fn : parts->periodic) {
    srv.AddPeriodic([&spec, fn] {
      absl::Status s = fn();
      if (!s.ok()) LogError(spec.name, s);
    });
  }
  srv.OnShutdown([&] {
    stop_background();
    (void)(*publisher)->Flush(absl::Seconds(10));
  });
  absl::Status started = srv.Start();
  if (!started.ok()) {
    stop_background();
    return fail(started);
  }
  srv.Wait();
  return 0;
}

}  // namespace meridian::service
