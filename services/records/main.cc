// records: wiring only. Settings (MERIDIAN_*): PG_URI, KAFKA_BROKERS,
// ORGANISATIONS, CONSENT_GRPC_ADDR with CONSENT_CLIENT_CERT/KEY (default
// CERTS_DIR/svc-records.*) and CONSENT_DEADLINE_MS (500), TLS_CA, the chassis
// settings (libs/server), PG_POOL_SIZE, BATCH_SIZE, XREF_CONSUMER_GROUP.
#include <iostream>
#include <thread>

#include "libs/audit/audit.h"
#include "libs/config/config.h"
#include "libs/consent/grpc_checker.h"
#include "libs/server/client.h"
#include "libs/kafka/kafka.h"
#include "libs/orgs/directory.h"
#include "libs/outbox/relay.h"
#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "libs/server/server.h"
#include "libs/server/standard.h"
#include "libs/xref/xref.h"
#include "services/records/pg_record_store.h"
#include "services/records/records.h"
#include "services/records/records_service.h"

namespace {

constexpr char kSchema[] = "records";

int Fail(const absl::Status& s) {
  std::cerr << "{\"level\":\"error\",\"service\":\"records\",\"error\":\""
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
  const int pool_size = static_cast<int>(cfg.Int("PG_POOL_SIZE", 16, 1, 200));
  const std::string consent_addr = cfg.RequiredString("CONSENT_GRPC_ADDR");
  const std::string certs_dir = cfg.String("CERTS_DIR", "");
  // The records service's own client identity towards consent.
  const std::string consent_cert =
      cfg.String("CONSENT_CLIENT_CERT", certs_dir + "/svc-records.pem");
  const std::string consent_key = cfg.String("CONSENT_CLIENT_KEY", certs_dir + "/svc-records.key");
  const std::string tls_ca = cfg.RequiredFile("TLS_CA");
  const int consent_deadline_ms =
      static_cast<int>(cfg.Int("CONSENT_DEADLINE_MS", 500, 10, 10000));
  // A new group replays the patient index's whole history into xref.
  const std::string xref_group = cfg.String("XREF_CONSUMER_GROUP", "records-xref");
  records::RecordsOptions options;
  options.batch_size = static_cast<int>(cfg.Int("BATCH_SIZE", 5000, 1, 20000));
  cfg.Set("MAX_MESSAGE_BYTES",
          cfg.String("MAX_MESSAGE_BYTES", std::to_string(records::kMaxMessageBytes)));
  server::ServerOptions server_options = server::ServerOptionsFromConfig(cfg, "records");
  cfg.ExitIfInvalid();

  absl::StatusOr<orgs::Directory> directory = orgs::Directory::LoadFile(directory_file);
  if (!directory.ok()) return Fail(directory.status());
  pg::Pool pool({.uri = pg_uri, .max_connections = pool_size,
                 .search_path = kSchema, .application_name = "records"});
  absl::StatusOr<int> migrated = pg::Migrate(pool, kSchema, records::AllMigrations());
  if (!migrated.ok()) return Fail(migrated.status());

  absl::Status topics = kafka::EnsureTopics(
      brokers, {{records::kRecordsTopic, 6, 1},
                {audit::kAuditTopic, 6, 1},
                {xref::kPatientTopic, 6, 1},
                {std::string(xref::kPatientTopic) + ".dlt", 1, 1}});
  if (!topics.ok()) return Fail(topics);
  auto publisher = kafka::MakeKafkaPublisher({.brokers = brokers, .client_id = "records"});
  if (!publisher.ok()) return Fail(publisher.status());
  // The identity cross-reference, fed by the patient index's events.
  auto consumer = kafka::MakeKafkaConsumer({.brokers = brokers,
                                            .group_id = xref_group,
                                            .topics = {xref::kPatientTopic},
                                            .client_id = "records"},
                                           publisher->get());
  if (!consumer.ok()) return Fail(consumer.status());

  records::PgRecordStore store(&pool);
  xref::PgXrefStore xrefs(&pool);
  auto consent_channel = server::MakeChannel(consent_addr, {tls_ca, consent_cert, consent_key});
  if (!consent_channel.ok()) return Fail(consent_channel.status());
  consent::GrpcChecker consent(*consent_channel, absl::Milliseconds(consent_deadline_ms));
  records::Records logic(&store, &xrefs, &consent, &*directory, options);
  records::RecordsService service(&logic, &*directory);
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
