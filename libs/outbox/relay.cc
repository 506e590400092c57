#include "libs/outbox/relay.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

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

absl::StatusOr<int> Relay::RunOnce() {
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<int> {
    if (!tx.exec1(kRelayLockSql)[0].as<bool>()) return 0;
    pqxx::result rows = tx.exec_params(
        "SELECT id, topic, event_key, envelope, event_id, event_type"
        " FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1"
        " FOR UPDATE SKIP LOCKED",
        options_.batch_size);
    if (rows.empty()) return 0;
    std::vector<kafka::Message> messages;
    std::vector<std::string> ids;
    messages.reserve(rows.size());
    ids.reserve(rows.size());
    for (const auto& row : rows) {
      pqxx::binarystring envelope(row[3]);
      messages.push_back(kafka::Message{
          row[1].as<std::string>(), row[2].as<std::string>(), envelope.str(),
          {{"meridian-event-id", row[4].as<std::string>()},
           {"meridian-event-type", row[5].as<std::string>()}}});
      ids.push_back(row[0].as<std::string>());
    }
    absl::Status published =
        publisher_->PublishBatch(messages, options_.publish_timeout);
    if (!published.ok()) return published;
    tx.exec_params(
        "UPDATE outbox SET published_at = clock_timestamp()"
        " WHERE id = ANY($1::bigint[])",
        absl::StrCat("{", absl::StrJoin(ids, ","), "}"));
    return static_cast<int>(rows.size());
  }, pg::TxnOptions{.max_attempts = 2});
}

void Relay::Run(const std::function<void(const absl::Status&)>& on_error) {
  absl::Duration backoff = options_.idle_wait;
  absl::Time next_purge = absl::Now();
  while (!stop_) {
    absl::StatusOr<int> n = RunOnce();
    if (!n.ok()) {
      if (on_error) on_error(n.status());
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = options_.idle_wait;
    if (*n == 0) {
      if (options_.retention > absl::ZeroDuration() &&
          absl::Now() >= next_purge) {
        (void)Purge();
        next_purge = absl::Now() + absl::Minutes(10);
      }
      absl::SleepFor(options_.idle_wait);
    }
  }
}

absl::StatusOr<Lag> Relay::GetLag() {
  return pool_->Transact([](pqxx::work& tx) -> absl::StatusOr<Lag> {
    pqxx::row r = tx.exec1(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM clock_timestamp() -"
        " min(created_at)), 0) FROM outbox WHERE published_at IS NULL");
    return Lag{r[0].as<int64_t>(), absl::Seconds(r[1].as<double>())};
  });
}

absl::StatusOr<int64_t> Relay::Purge() {
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    pqxx::result r = tx.exec_params(
        "DELETE FROM outbox WHERE published_at IS NOT NULL AND"
        " published_at < clock_timestamp() - make_interval(secs => $1)",
        absl::ToDoubleSeconds(options_.retention));
    return static_cast<int64_t>(r.affected_rows());
  });
}

}  // namespace meridian::outbox
