#include "libs/outbox/outbox.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/ids/uuid.h"
#include "meridian/events/v1/outbox_batch.pb.h"
#include "libs/pg/connection.h"
#include "libs/pg/sql.h"

namespace meridian::outbox {

namespace {

// Appends of at least this many events share outbox rows (OutboxBatch).
constexpr size_t kBatchThreshold = 8;
constexpr size_t kMaxEventsPerRow = 1000;

std::string Serialize(const events::v1::EventEnvelope& env) {
  std::string bytes;
  env.SerializeToString(&bytes);
  return bytes;
}

}  // namespace

absl::StatusOr<events::v1::EventEnvelope> NewEnvelope(const EventHeader& header,
                                                      absl::string_view payload_type,
                                                      std::string payload_bytes) {
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
  env.mutable_payload()->set_type_url(absl::StrCat("type.googleapis.com/", payload_type));
  env.mutable_payload()->set_value(std::move(payload_bytes));
  return env;
}

absl::StatusOr<events::v1::EventEnvelope> NewEnvelope(
    const EventHeader& header, const google::protobuf::Message& payload) {
  return NewEnvelope(header, payload.GetDescriptor()->full_name(),
                     payload.SerializeAsString());
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

namespace {

// The statement appending `n` (1 to kBatchThreshold - 1) rows of one event
// each: their four text fields, then every envelope.
const std::string& FewSql(size_t n) {
  static const auto* const kSql = [] {
    auto* sql = new std::vector<std::string>(kBatchThreshold);
    for (size_t k = 1; k < kBatchThreshold; ++k) {
      std::string values;
      for (size_t i = 0; i < k; ++i) {
        absl::StrAppend(&values, i > 0 ? ", " : "", "($", 4 * i + 1, "::uuid, $", 4 * i + 2,
                        ", $", 4 * i + 3, ", $", 4 * i + 4, ", $", 4 * k + i + 1, ")");
      }
      (*sql)[k] = absl::StrCat(
          "INSERT INTO outbox (event_id, topic, event_key, event_type, envelope) VALUES ",
          values);
    }
    return sql;
  }();
  return (*kSql)[n];
}

const std::string& BatchSql() {
  static const auto* const kSql = new std::string(
      "INSERT INTO outbox (event_id, topic, event_key, event_type, envelope, events)"
      " VALUES ($1::uuid, $2, $3, $4, $5, $6::int)");
  return *kSql;
}

// A few events as one multi-row INSERT (ids in order).
pg::PipelinedStatement Few(const std::vector<PendingEvent>& events) {
  const size_t n = events.size();
  pg::PipelinedStatement s{absl::StrCat("meridian_outbox_append_", n), &FewSql(n), {}, {}};
  s.params.reserve(5 * n);
  for (const PendingEvent& e : events) {
    const events::v1::EventEnvelope& env = e.envelope;
    s.params.insert(s.params.end(), {env.event_id(), e.topic, env.key(), env.type()});
  }
  for (const PendingEvent& e : events) s.params.push_back(Serialize(e.envelope));
  s.binary.assign(5 * n, false);
  std::fill(s.binary.begin() + 4 * n, s.binary.end(), true);
  return s;
}

// Events [begin, end) as one row (OutboxBatch).
pg::PipelinedStatement Batch(const std::vector<PendingEvent>& events, size_t begin,
                             size_t end) {
  events::v1::OutboxBatch batch;
  for (size_t i = begin; i < end; ++i) {
    const events::v1::EventEnvelope& env = events[i].envelope;
    events::v1::OutboxEvent* e = batch.add_events();
    e->set_topic(events[i].topic);
    e->set_key(env.key());
    e->set_event_id(env.event_id());
    e->set_event_type(env.type());
    env.SerializeToString(e->mutable_envelope());
  }
  const PendingEvent& first = events[begin];
  return {"meridian_outbox_append_batch",
          &BatchSql(),
          {first.envelope.event_id(), first.topic, first.envelope.key(),
           first.envelope.type(), batch.SerializeAsString(), absl::StrCat(end - begin)},
          {false, false, false, false, true, false}};
}

}  // namespace

std::vector<pg::PipelinedStatement> AppendStatements(const std::vector<PendingEvent>& events) {
  std::vector<pg::PipelinedStatement> out;
  if (events.empty()) return out;
  if (events.size() < kBatchThreshold) {
    out.push_back(Few(events));
    return out;
  }
  // Bulk: up to kMaxEventsPerRow events per row, in order. A row holding a
  // single event is a plain row (the relay reads `events` = 1 as one
  // envelope).
  for (size_t begin = 0; begin < events.size(); begin += kMaxEventsPerRow) {
    const size_t end = std::min(events.size(), begin + kMaxEventsPerRow);
    if (end - begin == 1) {
      out.push_back(Few({events[begin]}));
    } else {
      out.push_back(Batch(events, begin, end));
    }
  }
  return out;
}

absl::Status AppendAll(pqxx::transaction_base& tx, const std::vector<PendingEvent>& events) {
  if (!events.empty()) pg::ExecPipeline(tx, AppendStatements(events));
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
