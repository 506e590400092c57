#include "libs/outbox/outbox.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/ids/uuid.h"
#include "libs/pg/copy.h"
#include "libs/pg/sql.h"

namespace meridian::outbox {

namespace {

// Batches at least this large are appended with COPY rather than INSERTs.
constexpr size_t kCopyThreshold = 8;

std::string Serialize(const events::v1::EventEnvelope& env) {
  std::string bytes;
  env.SerializeToString(&bytes);
  return bytes;
}

}  // namespace

absl::StatusOr<events::v1::EventEnvelope> NewEnvelope(
    const EventHeader& header, const google::protobuf::Message& payload) {
  if (header.topic.empty() || header.type.empty() || header.key.empty()) {
    return absl::InvalidArgumentError(
        "outbox event: topic, type and key are required");
  }
  events::v1::EventEnvelope env;
  env.set_event_id(ids::NewUuid());
  env.set_type(header.type);
  *env.mutable_occurred_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  env.set_source_organisation(header.source_organisation);
  env.set_key(header.key);
  env.set_regional_patient_id(header.regional_patient_id);
  env.set_producer(header.producer);
  env.mutable_payload()->PackFrom(payload);
  return env;
}

absl::StatusOr<events::v1::EventEnvelope> Append(
    pqxx::work& tx, const EventHeader& header,
    const google::protobuf::Message& payload) {
  absl::StatusOr<events::v1::EventEnvelope> env = NewEnvelope(header, payload);
  if (!env.ok()) return env.status();
  std::vector<PendingEvent> one(1);
  one[0] = {header.topic, *env};
  absl::Status appended = AppendAll(tx, one);
  if (!appended.ok()) return appended;
  return env;
}

absl::Status AppendAll(pqxx::work& tx, const std::vector<PendingEvent>& events) {
  if (events.size() < kCopyThreshold) {
    for (const PendingEvent& e : events) {
      pg::ExecPrepared(
          tx, "meridian_outbox_append",
          "INSERT INTO outbox (event_id, topic, event_key, event_type, envelope)"
          " VALUES ($1, $2, $3, $4, $5)",
          e.envelope.event_id(), e.topic, e.envelope.key(), e.envelope.type(),
          pqxx::binarystring(Serialize(e.envelope)));
    }
    return absl::OkStatus();
  }
  pg::CopyWriter copy(tx, "outbox",
                      {"event_id", "topic", "event_key", "event_type", "envelope"});
  for (const PendingEvent& e : events) {
    copy.Row(e.envelope.event_id(), e.topic, e.envelope.key(), e.envelope.type(),
             pg::Bytea{Serialize(e.envelope)});
  }
  copy.Complete();
  return absl::OkStatus();
}

absl::StatusOr<events::v1::EventEnvelope> ParseEnvelope(
    const kafka::ConsumedMessage& message) {
  events::v1::EventEnvelope env;
  if (!env.ParseFromString(message.value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "event at ", message.topic, "/", message.partition, "@",
        message.offset, ": not an EventEnvelope"));
  }
  if (!ids::IsUuid(env.event_id())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "event at ", message.topic, "/", message.partition, "@",
        message.offset, ": event_id is not a UUID"));
  }
  return env;
}

absl::StatusOr<bool> MarkProcessed(pqxx::work& tx, const std::string& consumer,
                                   const std::string& event_id) {
  if (!ids::IsUuid(event_id)) {
    return absl::InvalidArgumentError("event_id: not a UUID");
  }
  pqxx::result r = tx.exec_params(
      "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)"
      " ON CONFLICT DO NOTHING",
      consumer, event_id);
  return r.affected_rows() == 1;
}

}  // namespace meridian::outbox
