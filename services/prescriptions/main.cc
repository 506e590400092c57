// prescriptions: wiring only. Settings (MERIDIAN_*): PG_URI, KAFKA_BROKERS,
// ORGANISATIONS, FORMULARY_DIR (default services/prescriptions/data),
// DEFAULT_VALIDITY_DAYS (3), CONSENT_GRPC_ADDR with CONSENT_CLIENT_CERT/KEY
// (default CERTS_DIR/svc-prescriptions.*) and CONSENT_DEADLINE_MS (500),
// TLS_CA, the chassis settings (libs/server), PG_POOL_SIZE,
// XREF_CONSUMER_GROUP.
#include <iostream>
#include <thread>

#include "libs/audit/audit.h"
#include "libs/config/config.h"
#include "libs/consent/grpc_checker.h"
#include "libs/kafka/kafka.h"
#include "libs/orgs/directory.h"
#include "libs/outbox/relay.h"
#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "libs/server/client.h"
#include "libs/server/server.h"
#include "libs/server/standard.h"
#include "libs/xref/xref.h"
#include "services/prescriptions/formulary.h"
#include "services/prescriptions/pg_prescription_store.h"
#include "services/prescriptions/prescriptions.h"
#include "services/prescriptions/prescriptions_service.h"

namespace {

constexpr char kSchema[] = "prescriptions";

int Fail(const absl::Status& s) {
  std::cerr << "{\"level\":\"error\",\"service\":\"prescriptions\",\"error\":\""
            << s.message() << "\"}" << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace meridian;
  config::Reader cfg = config::Reader::FromProcess(argc, argv);
  const std::string pg_uri = cfg.RequiredString("PG_URI");
  const std::string brokers = cfg.RequiredString("KAFKA_BROKERS");
  const std::string directory_file = cfg.RequiredFile("ORGANISATIONS");
  const std::string formulary_dir = cfg.String("FORMULARY_DIR", "services/prescriptions/data");
  const int pool_size = static_cast<int>(cfg.Int("PG_POOL_SIZE", 16, 1, 200));
  const std::string consent_addr = cfg.RequiredString("CONSENT_GRPC_ADDR");
  const std::string certs_dir = cfg.String("CERTS_DIR", "");
  const std::string consent_cert =
      cfg.String("CONSENT_CLIENT_CERT", certs_dir + "/svc-prescriptions.pem");
  const std::string consent_key =
      cfg.String("CONSENT_CLIENT_KEY", certs_dir + "/svc-prescriptions.key");
  const std::string tls_ca = cfg.RequiredFile("TLS_CA");
  const int consent_deadline_ms =
      static_cast<int>(cfg.Int("CONSENT_DEADLINE_MS", 500, 10, 10000));
  const std::string xref_group = cfg.String("XREF_CONSUMER_GROUP", "prescriptions-xref");
  prescriptions::PrescriptionsOptions options;
  options.default_validity_days = static_cast<int>(
      cfg.Int("DEFAULT_VALIDITY_DAYS", 3, 1, prescriptions::kMaxValidityDays));
  cfg.Set("MAX_MESSAGE_BYTES",
          cfg.String("MAX_MESSAGE_BYTES", std::to_string(prescriptions::kMaxMessageBytes)));
  server::ServerOptions server_options = server::ServerOptionsFromConfig(cfg, "prescriptions");
  cfg.ExitIfInvalid();

  absl::StatusOr<orgs::Directory> directory = orgs::Directory::LoadFile(directory_file);
  if (!directory.ok()) return Fail(directory.status());
  absl::StatusOr<prescriptions::Formulary> formulary =
      prescriptions::Formulary::LoadDir(formulary_dir);
  if (!formulary.ok()) return Fail(formulary.status());
  pg::Pool pool({.uri = pg_uri, .max_connections = pool_size,
                 .search_path = kSchema, .application_name = "prescriptions"});
  absl::StatusOr<int> migrated = pg::Migrate(pool, kSchema, prescriptions::AllMigrations());
  if (!migrated.ok()) return Fail(migrated.status());

  absl::Status topics = kafka::EnsureTopics(
      brokers, {{prescriptions::kPrescriptionsTopic, 6, 1},
                {audit::kAuditTopic, 6, 1},
                {xref::kPatientTopic, 6, 1},
                {std::string(xref::kPatientTopic) + ".dlt", 1, 1}});
  if (!topics.ok()) return Fail(topics);
  auto publisher =
      kafka::MakeKafkaPublisher({.brokers = brokers, .client_id = "prescriptions"});
  if (!publisher.ok()) return Fail(publisher.status());
  auto consumer = kafka::MakeKafkaConsumer({.brokers = brokers,
                                            .group_id = xref_group,
                                            .topics = {xref::kPatientTopic},
                                            .client_id = "prescriptions"},
                                           publisher->get());
  if (!consumer.ok()) return Fail(consumer.status());

  prescriptions::PgPrescriptionStore store(&pool);
  xref::PgXrefStore xrefs(&pool);
  auto consent_channel =
      server::MakeChannel(consent_addr, {tls_ca, consent_cert, consent_key});
  if (!consent_channel.ok()) return Fail(consent_channel.status());
  consent::GrpcChecker consent(*consent_channel, absl::Milliseconds(consent_deadline_ms));
  prescriptions::Prescriptions logic(&store, &xrefs, &consent, &*directory, &*formulary,
                                     options);
  prescriptions::PrescriptionsService service(&logic, &*directory);
  outbox::Relay relay(&pool, publisher->get());
  std::thread relay_thread([&] { relay.Run(); });
  std::thread consumer_thread([&] {
    absl::Status s = (*consumer)->RunBatched(xref::BatchEventHandler(&xrefs, xref_group),
                                             xref::EventHandler(&xrefs, xref_group), 500);
    if (!s.ok()) Fail(s);
  });
  auto stop_background = [&] {
    relay.Stop();
    (*consumer)->Stop();
    if (relay_thread.joinable()) relay_thread.join();
    if (consumer_thread.joinable()) consumer_thread.join();
  };

  server::Server srv(server_options, &*directory);
  srv.AddService(&service);
  server::AddStandardChecks(srv, pool, brokers, &relay);
  // Prescriptions whose validity ended become EXPIRED (with their events).
  srv.AddPeriodic([&] {
    absl::StatusOr<int> expired = logic.ExpireDue();
    if (!expired.ok()) Fail(expired.status());
  });
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
