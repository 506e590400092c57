#include "libs/outbox/relay.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/pg/sql.h"
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

// Claims (locks and deletes, uncommitted) pending rows holding about `limit`
// events, in id order, and hands their events to the publisher.
struct Claim {
  int count = 0;
  std::unique_ptr<kafka::Delivery> delivery;
};

Claim ClaimAndSend(pqxx::work& tx, int limit, kafka::Publisher& publisher) {
  // Lock pending rows in id order until they hold `limit` events (at least
  // one row); `id = ANY(ARRAY(...))` keeps this an index scan however long
  // the backlog. Rows locked by another relay are skipped.
  pqxx::result pending = tx.exec_params(
      "SELECT id, events FROM outbox WHERE id = ANY(ARRAY(SELECT id FROM outbox"
      " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)) ORDER BY id",
      limit);
  Claim claim;
  if (pending.empty()) return claim;
  std::vector<std::string> ids;
  for (const auto& row : pending) {
    if (claim.count >= limit) break;
    ids.push_back(row[0].as<std::string>());
    claim.count += row[1].as<int>();
  }
  pqxx::result rows = tx.exec_params(
      "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
      " RETURNING id, topic, event_key, envelope, event_id, event_type, events",
      pg::TextArray(ids));
  std::vector<std::pair<int64_t, pqxx::row>> claimed;
  claimed.reserve(rows.size());
  for (const auto& row : rows) claimed.emplace_back(row[0].as<int64_t>(), row);
  // RETURNING has no order: restore commit (id) order.
  std::sort(claimed.begin(), claimed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<kafka::Message> messages;
  messages.reserve(claim.count);
  for (const auto& [id, row] : claimed) {
    std::string stored = pg::ReadBytea(row[3]);
    if (row[6].as<int>() == 1) {
      messages.push_back(
          {row[1].as<std::string>(), row[2].as<std::string>(), std::move(stored),
           {{"meridian-event-id", row[4].as<std::string>()},
            {"meridian-event-type", row[5].as<std::string>()}}});
      continue;
    }
    events::v1::OutboxBatch batch;
    if (!batch.ParseFromString(stored)) {
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
