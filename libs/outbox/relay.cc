#include "libs/outbox/relay.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

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

// Claims (locks and deletes, uncommitted) up to `limit` pending rows in id
// order and hands them to the publisher. Rows locked by another transaction
// are skipped.
struct Claim {
  int count = 0;
  std::unique_ptr<kafka::Delivery> delivery;
};

Claim ClaimAndSend(pqxx::work& tx, int limit, kafka::Publisher& publisher) {
  // `id = ANY(ARRAY(...))` keeps this an index scan however long the backlog.
  pqxx::result rows = tx.exec_params(
      "DELETE FROM outbox WHERE id = ANY(ARRAY(SELECT id FROM outbox"
      " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED))"
      " RETURNING id, topic, event_key, envelope, event_id, event_type",
      limit);
  Claim claim;
  claim.count = static_cast<int>(rows.size());
  if (rows.empty()) return claim;
  std::vector<std::pair<int64_t, kafka::Message>> claimed;
  claimed.reserve(rows.size());
  for (const auto& row : rows) {
    pqxx::binarystring envelope(row[3]);
    claimed.emplace_back(
        row[0].as<int64_t>(),
        kafka::Message{row[1].as<std::string>(), row[2].as<std::string>(),
                       envelope.str(),
                       {{"meridian-event-id", row[4].as<std::string>()},
                        {"meridian-event-type", row[5].as<std::string>()}}});
  }
  // RETURNING has no order: restore commit (id) order.
  std::sort(claimed.begin(), claimed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<kafka::Message> messages;
  messages.reserve(claimed.size());
  for (auto& entry : claimed) messages.push_back(std::move(entry.second));
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
    Claim claim = ClaimAndSend(tx, options_.batch_size, *publisher_);
    if (claim.count == 0) return 0;
    absl::Status s = claim.delivery->Wait(options_.publish_timeout);
    if (!s.ok()) return s;  // rollback: the rows stay pending
    return claim.count;
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
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM clock_timestamp() -"
        " min(created_at)), 0) FROM outbox");
    return Lag{r[0].as<int64_t>(), absl::Seconds(r[1].as<double>())};
  });
}

}  // namespace meridian::outbox
