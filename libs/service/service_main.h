// The main of a clinical service (records, prescriptions, lab results):
// everything such a service runs on besides its own logic, wired once.
//
//   int main(int argc, char** argv) {
//     return service::Main(argc, argv, {.name = "lab-results", ...},
//                          [](service::Context& c) -> absl::StatusOr<service::Parts> {
//                            service::Parts parts;
//                            auto* store = parts.Keep(std::make_unique<PgLabStore>(&c.pool));
//                            ...
//                            parts.service = parts.Keep(std::make_unique<LabsService>(...));
//                            return parts;
//                          });
//   }
//
// Main reads the settings (MERIDIAN_* or --name=value): PG_URI,
// KAFKA_BROKERS, ORGANISATIONS, PG_POOL_SIZE (16), CONSENT_GRPC_ADDR with
// CONSENT_CLIENT_CERT/KEY (default CERTS_DIR/svc-<name>.pem/.key) and
// CONSENT_DEADLINE_MS (500), TLS_CA, the Kafka settings of kafka_settings.h,
// XREF_CONSUMER_GROUP (<name>-xref; a new
// group replays the patient index's history), MAX_MESSAGE_BYTES and the
// chassis settings (libs/server). It migrates the schema, makes sure the
// topics exist, runs the outbox relay and the consumer that keeps the
// identity cross-reference (libs/xref), asks the consent service through
// libs/consent's client, serves the built gRPC service with the standard
// health checks, and shuts it all down in order on SIGTERM. A failure to
// start is one JSON line on stderr and exit code 1. MIGRATE_ONLY=true
// migrates and exits (migrate_only.h); --help lists the settings.
#ifndef MERIDIAN_LIBS_SERVICE_SERVICE_MAIN_H_
#define MERIDIAN_LIBS_SERVICE_SERVICE_MAIN_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/impl/service_type.h"
#include "libs/config/config.h"
#include "libs/consent/consent.h"
#include "libs/kafka/kafka.h"
#include "libs/orgs/directory.h"
#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "libs/server/server.h"
#include "libs/xref/xref.h"

namespace meridian::service {

struct Spec {
  // e.g. "lab-results": log label, metrics and client certificate
  // (svc-<name>) towards consent.
  std::string name;
  // The PostgreSQL schema the service owns.
  std::string schema;
  // The topic of the service's own events; "" for a service that emits none
  // (no outbox relay then).
  std::string topic;
  // Whether the service keeps the identity cross-reference (libs/xref) and
  // asks the consent service; a service that sees only de-identified data
  // (analytics) does neither, and Context's xrefs and consent are null.
  bool identity_links = true;
  int max_message_bytes = 16 << 20;
  std::vector<pg::MigrationSet> migrations;
};

// What the service's parts are built from.
struct Context {
  config::Reader& cfg;  // for the service's own settings
  const orgs::Directory& directory;
  pg::Pool& pool;
  xref::XrefStore* xrefs;     // null unless Spec::identity_links
  consent::Checker* consent;  // null unless Spec::identity_links
  // The service's producer (idempotent, acks=all), besides its outbox.
  kafka::Publisher& publisher;
  // The chassis's server settings (listen host, TLS files, CRL directory),
  // for a service that opens another listener with the same identity.
  const server::ServerOptions& server;
};

// A consumer the service runs besides the cross-reference one: its topics,
// its group and what it does with each message (libs/kafka's retry and
// dead-letter rules apply).
struct Consumer {
  std::vector<std::string> topics;
  std::string group_id;
  kafka::Handler handler;
  // Where a new group starts: "earliest" (the topics' whole history) or
  // "latest".
  std::string start_at = "earliest";
  // When set, up to `max_batch` waiting messages go to it at once
  // (kafka::Consumer::RunBatched), `handler` taking them one by one when
  // the batch fails.
  kafka::BatchHandler batch_handler = nullptr;
  int max_batch = 500;
};

struct Parts {
  // The gRPC service; none for a service that only consumes (the chassis
  // still serves health and metrics).
  grpc::Service* service = nullptr;
  std::vector<Consumer> consumers;
  // Run on every health tick (e.g. sweeps); errors are logged.
  std::vector<std::function<absl::Status()>> periodic;
  // Run once at shutdown, after the gRPC server drained and before the
  // consumers stop (e.g. another listener the service started).
  std::vector<std::function<void()>> on_stop;

  // Keeps `object` alive while the service runs; returns it.
  template <typename T>
  T* Keep(std::unique_ptr<T> object) {
    T* raw = object.get();
    kept_.push_back(std::shared_ptr<void>(std::move(object)));
    return raw;
  }

 private:
  std::vector<std::shared_ptr<void>> kept_;
};

using Builder = std::function<absl::StatusOr<Parts>(Context&)>;

// Runs the service until it is told to stop; the process's exit code.
int Main(int argc, char** argv, const Spec& spec, const Builder& build);

}  // namespace meridian::service

#endif  // MERIDIAN_LIBS_SERVICE_SERVICE_MAIN_H_
