// consent: wiring only. Settings (MERIDIAN_*): PG_URI, KAFKA_BROKERS,
// ORGANISATIONS, AUDIT_SIGNING_KEY (Ed25519 PEM, a secret), CONSENT_DEFAULTS
// ("TREATMENT=permit,PUBLIC_HEALTH=permit,RESEARCH=deny"), PG_POOL_SIZE, and
// the chassis settings (libs/server).
#include <atomic>
#include <iostream>
#include <vector>
#include <thread>

#include "libs/config/config.h"
#include "libs/kafka/kafka.h"
#include "libs/orgs/directory.h"
#include "libs/outbox/relay.h"
#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "libs/server/server.h"
#include "libs/server/standard.h"
#include "libs/service/kafka_settings.h"
#include "libs/service/log.h"
#include "libs/service/migrate_only.h"
#include "libs/xref/xref.h"
#include "services/consent/audit_log.h"
#include "services/consent/consent_registry.h"
#include "services/consent/consent_service.h"
#include "services/consent/pg_consent_store.h"

namespace {

constexpr char kSchema[] = "consent";

int Fail(const absl::Status& s) { return meridian::service::FailStart("consent", s); }

}  // namespace

int main(int argc, char** argv) {
  using namespace meridian;
  config::Reader cfg = config::Reader::FromProcess(argc, argv);
  if (std::optional<int> code = service::MigrateOnlyIfAsked(cfg, "consent", kSchema, consent::AllMigrations())) {
    return *code;
  }
  const std::string pg_uri = cfg.RequiredString("PG_URI");
  const service::KafkaSettings kafka_settings = service::ReadKafkaSettings(cfg);
  const std::string& brokers = kafka_settings.brokers;
  const std::string directory_file = cfg.RequiredFile("ORGANISATIONS");
  const std::string key_file = cfg.RequiredFile("AUDIT_SIGNING_KEY");
  const std::string defaults_spec =
      cfg.String("CONSENT_DEFAULTS", "TREATMENT=permit,PUBLIC_HEALTH=permit,RESEARCH=deny");
  const int pool_size = static_cast<int>(cfg.Int("PG_POOL_SIZE", 16, 1, 200));
  server::ServerOptions server_options = server::ServerOptionsFromConfig(cfg, "consent");
  cfg.ExitIfInvalid();
  service::UseKafkaIdentity(kafka_settings);

  absl::StatusOr<consent::RegionalDefaults> defaults =
      consent::RegionalDefaults::Parse(defaults_spec);
  if (!defaults.ok()) return Fail(defaults.status());
  absl::StatusOr<consent::AuditKey> key = consent::AuditKey::FromPemFile(key_file);
  if (!key.ok()) return Fail(key.status());
  if (!key->can_sign()) return Fail(absl::InvalidArgumentError("AUDIT_SIGNING_KEY: not a private key"));
  absl::StatusOr<orgs::Directory> directory = orgs::Directory::LoadFile(directory_file);
  if (!directory.ok()) return Fail(directory.status());
  pg::Pool pool({.uri = pg_uri, .max_connections = pool_size,
                 .search_path = kSchema, .application_name = "consent"});
  absl::StatusOr<int> migrated = pg::Migrate(pool, kSchema, consent::AllMigrations());
  if (!migrated.ok()) return Fail(migrated.status());

  absl::Status topics = service::EnsureTopics(
      kafka_settings, {{consent::kConsentTopic, 6, 1},
                {consent::kAuditTopic, 6, 1},
                {std::string(consent::kAuditTopic) + ".dlt", 1, 1},
                {xref::kPatientTopic, 6, 1},
                {std::string(xref::kPatientTopic) + ".dlt", 1, 1}});
  if (!topics.ok()) return Fail(topics);
  auto publisher = kafka::MakeKafkaPublisher({.brokers = brokers, .client_id = "consent"});
  if (!publisher.ok()) return Fail(publisher.status());
  auto xref_consumer = kafka::MakeKafkaConsumer(
      {.brokers = brokers, .group_id = "consent-xref", .topics = {xref::kPatientTopic},
       .client_id = "consent"},
      publisher->get());
  if (!xref_consumer.ok()) return Fail(xref_consumer.status());
  auto audit_consumer = kafka::MakeKafkaConsumer(
      {.brokers = brokers, .group_id = "consent-audit", .topics = {consent::kAuditTopic},
       .client_id = "consent"},
      publisher->get());
  if (!audit_consumer.ok()) return Fail(audit_consumer.status());

  consent::PgConsentStore store(&pool);
  xref::PgXrefStore xrefs(&pool);
  consent::AuditLog audit(&pool, &*key);
  consent::ConsentRegistry registry(&store, &xrefs, &*directory, *defaults);
  consent::ConsentService service(&registry, &audit, &*directory);
  outbox::Relay relay(&pool, publisher->get());
  std::atomic<bool> stopping{false};
  std::vector<std::thread> background;
  background.emplace_back([&] { relay.Run(); });
  background.emplace_back([&] { (void)(*xref_consumer)->RunBatched(
        xref::BatchEventHandler(&xrefs, "consent"), xref::EventHandler(&xrefs, "consent"), 500); });
  background.emplace_back([&] { (void)(*audit_consumer)->Run(audit.Handler()); });
  // Sign the head of the audit log every minute it moved.
  background.emplace_back([&] {
    while (!stopping) {
      for (int i = 0; i < 600 && !stopping; ++i) absl::SleepFor(absl::Milliseconds(100));
      if (!stopping) (void)audit.Checkpoint();
    }
  });
  auto stop_background = [&] {
    stopping = true;
    relay.Stop();
    (*xref_consumer)->Stop();
    (*audit_consumer)->Stop();
    for (auto& t : background) {
      if (t.joinable()) t.join();
    }
  };

  server::Server srv(server_options, &*directory);
  srv.AddService(&service);
  server::AddStandardChecks(srv, pool, brokers, &relay);
  srv.OnShutdown([&] {
    stop_background();
    (void)(*publisher)->Flush(absl::Seconds(10));
  });
  absl::Status started = srv.Start();
  if (!started.ok()) {
    stop_background();
    return Fail(started);
  }
  srv.Wait();
  return 0;
}
