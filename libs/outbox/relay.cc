#include "libs/outbox/relay.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/pg/connection.h"
#include "meridian/events/v1/outbox_batch.pb.h"

namespace meridian::outbox {
namespace {

// Distinct from the migration lock; hashed with the schema name in SQL so
// each schema has its own relay lock.
constexpr char kRelayLockSql[] =
    "SELECT pg_try_advisory_xact_lock(hashtext('meridian.outbox.' ||"
    " current_schema()))";

}  // namespace

Relay::Relay(pg::Pool* pool, kafka::Publisher* publisher, RelayOptions options)
    : pool_(pool), publisher_(publisher), options_(options) {}

namespace {

// Claims (deletes, uncommitted) pending rows holding about `limit`
// events, in id order, and hands their events to the publisher.
struct Claim {
  int count = 0;
  std::unique_ptr<kafka::Delivery> delivery;
};

Claim ClaimAndSend(pqxx::work& tx, int limit, kafka::Publisher& publisher) {
  // One statement deletes the oldest pending rows, in id order, until they
  // hold `limit` events (at least one row), and returns them. No row locks
  // are taken first: the caller holds this schema's relay lock, writers only
  // insert, so nothing else deletes or changes these rows (a FOR UPDATE
  // would write, and WAL-log, every row twice). `id <=` a scalar subquery
  // keeps the delete an index range scan however long the backlog; a lower
  // id still uncommitted is invisible to it and goes in a later batch.
  // Binary results: the envelopes arrive as stored, not hex-encoded.
  pg::BinaryResult rows = pg::ExecBinary(
      tx,
      "DELETE FROM outbox WHERE id <= (SELECT max(id) FROM (SELECT id, events,"
      " sum(events) OVER (ORDER BY id) AS upto FROM outbox ORDER BY id LIMIT $1) oldest"
      " WHERE upto - events < $1)"
      " RETURNING id, topic, event_key, envelope, event_id::text, event_type, events",
      {std::to_string(limit)});
  Claim claim;
  if (rows.rows() == 0) return claim;
  // RETURNING has no order: restore commit (id) order.
  std::vector<std::pair<int64_t, int>> order;
  order.reserve(rows.rows());
  for (int i = 0; i < rows.rows(); ++i) order.emplace_back(rows.Int64(i, 0), i);
  std::sort(order.begin(), order.end());
  std::vector<kafka::Message> messages;
  messages.reserve(rows.rows());
  events::v1::OutboxBatch batch;
  for (const auto& [id, i] : order) {
    const absl::string_view stored = rows.Bytes(i, 3);
    if (rows.Int32(i, 6) == 1) {
      messages.push_back({std::string(rows.Bytes(i, 1)), std::string(rows.Bytes(i, 2)),
                          std::string(stored),
                          {{"meridian-event-id", std::string(rows.Bytes(i, 4))},
                           {"meridian-event-type", std::string(rows.Bytes(i, 5))}}});
      continue;
    }
    if (!batch.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
      claim.count = -1;  // corrupt row: never publish around it
      return claim;
    }
    for (auto& e : *batch.mutable_events()) {
      messages.push_back({std::move(*e.mutable_topic()), std::move(*e.mutable_key()),
                          std::move(*e.mutable_envelope()),
                          {{"meridian-event-id", e.event_id()},
                           {"meridian-event-type", e.event_type()}}});
    }
  }
  claim.count = static_cast<int>(messages.size());
  claim.delivery = publisher.Send(messages);
  return claim;
}

}  // namespace

absl::StatusOr<int> Relay::RunOnce() {
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<int> {
    if (!tx.exec1(kRelayLockSql)[0].as<bool>()) return 0;
    // Losing this commit in a server crash only brings the rows back to be
    // published again (consumers deduplicate), so it need not wait for the
    // WAL flush.
    tx.exec("SET LOCAL synchronous_commit = off");
    // Claim and send batch after batch without waiting: while the broker
    // acknowledges one, the next is read from the database. Then wait for
    // every acknowledgement and commit them all.
    std::vector<std::unique_ptr<kafka::Delivery>> deliveries;
    int total = 0;
    for (int i = 0; i < options_.batches_per_commit; ++i) {
      // Stop at the first failure known so far: a later batch sent after a
      // failed one would reach the topic before the failed one's events are
      // published again, out of order.
      for (auto& delivery : deliveries) {
        absl::Status so_far = delivery->Wait(absl::ZeroDuration());
        if (!so_far.ok() && !absl::IsDeadlineExceeded(so_far)) return so_far;
      }
      Claim claim = ClaimAndSend(tx, options_.batch_size, *publisher_);
      if (claim.count < 0) {
        return absl::DataLossError("outbox: a batched row does not parse");
      }
      if (claim.count == 0) break;
      total += claim.count;
      deliveries.push_back(std::move(claim.delivery));
      if (claim.count < options_.batch_size) break;  // drained
    }
    for (auto& delivery : deliveries) {
      absl::Status s = delivery->Wait(options_.publish_timeout);
      if (!s.ok()) return s;  // rollback: the rows stay pending
    }
    return total;
  }, pg::TxnOptions{.max_attempts = 2});
}

void Relay::Run(const std::function<void(const absl::Status&)>& on_error) {
  absl::Duration backoff = options_.idle_wait;
  while (!stop_) {
    absl::StatusOr<int> n = RunOnce();
    if (!n.ok()) {
      if (on_error) on_error(n.status());
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = options_.idle_wait;
    if (*n == 0) absl::SleepFor(options_.idle_wait);
  }
}

absl::StatusOr<Lag> Relay::GetLag() {
  return pool_->Transact([](pqxx::work& tx) -> absl::StatusOr<Lag> {
    pqxx::row r = tx.exec1(
        "SELECT COALESCE(sum(events), 0), COALESCE(EXTRACT(EPOCH FROM clock_timestamp() -"
        " min(created_at)), 0) FROM outbox");
    return Lag{r[0].as<int64_t>(), absl::Seconds(r[1].as<double>())};
  });
}

}  // namespace meridian::outbox
