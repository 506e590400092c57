// The transactional outbox: every Meridian event is written to the service's
// `outbox` table in the same transaction as the data it describes, and
// published to Kafka afterwards by the Relay (relay.h). Nothing that committed
// is lost while Kafka is down; nothing is published that did not commit.
//
//   pool.Transact([&](pqxx::work& tx) -> absl::Status {
//     ... write the patient ...
//     return outbox::Append(tx, {.topic = "meridian.patient.v1",
//                                .type = "patient.registered",
//                                .key = regional_id,
//                                .source_organisation = org,
//                                .regional_patient_id = regional_id},
//                           payload).status();
//   });
#ifndef MERIDIAN_LIBS_OUTBOX_OUTBOX_H_
#define MERIDIAN_LIBS_OUTBOX_OUTBOX_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "libs/kafka/kafka.h"
#include "libs/pg/connection.h"
#include "libs/pg/migrate.h"
#include "meridian/events/v1/envelope.pb.h"
#include "pqxx/pqxx"

namespace meridian::outbox {

struct EventHeader {
  std::string topic;                // e.g. "meridian.patient.v1"
  std::string type;                 // e.g. "patient.linked"
  std::string key;                  // Kafka key; regional ID where known
  std::string source_organisation;  // the institution the fact came from
  std::string regional_patient_id;  // empty when not known yet
  std::string producer;             // writing service, e.g. "patient-index"
};

// The outbox and inbox tables, as the "outbox" migration component; every
// service that publishes or consumes includes it in its pg::Migrate call.
const std::vector<pg::Migration>& Migrations();
inline pg::MigrationSet MigrationSet() { return {"outbox", &Migrations()}; }

// Wraps `payload` in an envelope: a fresh event ID, the current time, the
// header's fields. INVALID_ARGUMENT when topic, type or key is missing.
absl::StatusOr<events::v1::EventEnvelope> NewEnvelope(
    const EventHeader& header, const google::protobuf::Message& payload);

// The same with a payload already serialized: `payload_type` is its full
// message name (e.g. "meridian.records.v1.EncounterRecorded"). For hot paths
// that can assemble the payload's bytes without building the message.
absl::StatusOr<events::v1::EventEnvelope> NewEnvelope(const EventHeader& header,
                                                      absl::string_view payload_type,
                                                      std::string payload_bytes);

// An event ready for the outbox.
struct PendingEvent {
  std::string topic;
  events::v1::EventEnvelope envelope;
};

// Wraps `payload` in an envelope (NewEnvelope) and appends it to the outbox
// inside `tx`. Returns the envelope. Throws what libpqxx throws; call it inside
// pg::Pool::Transact.
absl::StatusOr<events::v1::EventEnvelope> Append(
    pqxx::work& tx, const EventHeader& header,
    const google::protobuf::Message& payload);

// Appends every event, in order, inside `tx` (on a pg::Connection, as every
// pg::Pool's): up to 7 events as one statement of one row each; from 8 events
// on, up to 1000 share one outbox row (the relay still publishes one message
// per event). One round trip. Throws what libpqxx throws.
absl::Status AppendAll(pqxx::transaction_base& tx, const std::vector<PendingEvent>& events);

// AppendAll's statements, for a caller that sends them in a pg::ExecPipeline
// of its own (with its transaction's COMMIT, say). None for no events.
std::vector<pg::PipelinedStatement> AppendStatements(const std::vector<PendingEvent>& events);

// Decodes an envelope consumed from Kafka. INVALID_ARGUMENT when the bytes are
// not an envelope or lack an event ID (such a message is dead-lettered).
absl::StatusOr<events::v1::EventEnvelope> ParseEnvelope(
    const kafka::ConsumedMessage& message);

// Consumer-side deduplication by event ID. Call inside the transaction that
// applies the event: returns true the first time (and records it), false when
// this consumer already processed the event, in which case apply nothing.
absl::StatusOr<bool> MarkProcessed(pqxx::work& tx, const std::string& consumer,
                                   const std::string& event_id);

}  // namespace meridian::outbox

#endif  // MERIDIAN_LIBS_OUTBOX_OUTBOX_H_
