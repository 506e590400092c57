#include "libs/outbox/relay.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/ids/uuid.h"
#include "libs/pg/connection.h"
#include "meridian/events/v1/outbox_batch.pb.h"

namespace meridian::outbox {
namespace {

// Distinct from the migration lock; hashed with the schema name in SQL so
// each schema has its own relay lock.
#define MERIDIAN_OUTBOX_RELAY_KEY "hashtext('meridian.outbox.' || current_schema())"
constexpr char kRelayLockSql[] = "SELECT pg_try_advisory_xact_lock(" MERIDIAN_OUTBOX_RELAY_KEY ")";
// The same lock held by a session (for statements that cannot run in a
// transaction block; the session is closed after); it conflicts with the
// transaction-level one.
constexpr char kRelaySessionLockSql[] = "SELECT pg_try_advisory_lock(" MERIDIAN_OUTBOX_RELAY_KEY ")";
constexpr char kRelaySessionUnlockSql[] = "SELECT pg_advisory_unlock(" MERIDIAN_OUTBOX_RELAY_KEY ")";

// The last id the sequence has handed out (0 before the first).
// pg_sequence_last_value (behind the pg_sequences view) reads the sequence's
// tuple under its buffer lock. `SELECT last_value FROM outbox_id_seq` does
// not: a scan reads the tuple after releasing that lock, and nextval, every
// 32 ids and after a checkpoint or setval, writes the value 32 ahead into the
// tuple while it logs it, then puts the true one back. Such a read made the
// fence final over ids not yet handed out, and the watermark passed their
// rows before they were written: they were never published. (pgbench, 8
// clients taking ids, 4 reading then taking one: the scan read a value above
// its own next id once in 961,588 reads; pg_sequence_last_value in none of
// 983,665.) NULL, read as 0, is a new sequence, or one moved by setval(x,
// false): until its next id the fence then waits, never overtakes.
#define MERIDIAN_OUTBOX_LAST_ID "COALESCE(pg_sequence_last_value('outbox_id_seq'), 0)"
constexpr char kLastIdSql[] = "SELECT " MERIDIAN_OUTBOX_LAST_ID;

// The transactions (virtual IDs) holding a write lock on this schema's
// outbox: every writer takes it before its id.
constexpr char kWritersSql[] =
    "SELECT COALESCE(array_agg(virtualtransaction), '{}')::text FROM pg_locks"
    " WHERE locktype = 'relation' AND relation = 'outbox'::regclass"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND mode = 'RowExclusiveLock' AND granted";

constexpr char kAnyStillRunningSql[] =
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'virtualxid'"
    " AND virtualxid = ANY($1::text[]))";

// Partition k holds ids [k << kPartitionBits, (k + 1) << kPartitionBits)
// (migration 0003).
constexpr int kPartitionBits = 40;
constexpr char kPartitionPrefix[] = "outbox_p";

// The tables of the outbox's schema named like partitions: name, size
// (table, TOAST and index), attached to `outbox`, detach pending.
constexpr char kPartitionsSql[] =
    "SELECT c.relname, pg_total_relation_size(c.oid), i.inhrelid IS NOT NULL,"
    " coalesce(i.inhdetachpending, false) FROM pg_class c LEFT JOIN pg_inherits i"
    " ON i.inhrelid = c.oid AND i.inhparent = 'outbox'::regclass"
    " WHERE c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'outbox'::regclass)"
    " AND c.relkind = 'r' AND starts_with(c.relname, 'outbox_p')";

int64_t PartitionOf(int64_t id) { return std::max<int64_t>(id, 0) >> kPartitionBits; }
int64_t FirstIdOf(int64_t k) { return k << kPartitionBits; }
std::string PartitionName(int64_t k) { return absl::StrCat(kPartitionPrefix, k); }

// Partition k as attached to `outbox` now: whether its detach is pending,
// or nothing when it is not attached (detached, dropped, or never made).
// Read under the relay lock: another relay may have moved it since the
// state it was chosen from.
std::optional<bool> DetachPending(pqxx::transaction_base& tx, int64_t k) {
  pqxx::row r = tx.exec_params1(
      "SELECT (SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass($1)"
      " AND inhparent = 'outbox'::regclass)",
      PartitionName(k));
  if (r[0].is_null()) return std::nullopt;
  return r[0].as<bool>();
}

// Reads the final rows above `from` holding about `limit` events, in id
// order, and hands their events to the publisher.
struct Claim {
  int count = 0;         // events sent; -1: a batched row does not parse
  int64_t last_id = 0;   // the last row's id
  std::unique_ptr<kafka::Delivery> delivery;
};

Claim ReadAndSend(pqxx::work& tx, int64_t from, int64_t upto, int limit,
                  kafka::Publisher& publisher) {
  // The rows in (from, upto], in id order: at most `limit` rows, and none
  // after the bulk row (events > 1, found by their partial index) at which
  // bulk rows' events beyond one each reach `limit`, so a batch holds fewer
  // than 2 * limit + 1000 events. `id <=` a scalar subquery keeps it an index
  // range scan however long the backlog. Binary results: the envelopes
  // arrive as stored, not hex-encoded.
  pg::BinaryResult rows = pg::ExecBinary(
      tx,
      "SELECT id, topic, event_key, envelope, event_id, event_type, events FROM outbox"
      " WHERE id > $1 AND id <= LEAST($2, (SELECT min(id) FROM (SELECT id, sum(events - 1)"
      " OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) AS extra FROM outbox WHERE id > $1"
      " AND id <= $2 AND events > 1 ORDER BY id LIMIT $3) bulk WHERE extra >= $3))"
      " ORDER BY id LIMIT $3",
      {std::to_string(from), std::to_string(upto), std::to_string(limit)});
  Claim claim;
  if (rows.rows() == 0) return claim;
  std::vector<kafka::Message> messages;
  messages.reserve(rows.rows());
  events::v1::OutboxBatch batch;
  for (int i = 0; i < rows.rows(); ++i) {
    const absl::string_view stored = rows.Bytes(i, 3);
    if (rows.Int32(i, 6) == 1) {
      messages.push_back({std::string(rows.Bytes(i, 1)), std::string(rows.Bytes(i, 2)),
                          std::string(stored),
                          {{"meridian-event-id", ids::FormatUuid(rows.Bytes(i, 4))},
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
  claim.last_id = rows.Int64(rows.rows() - 1, 0);
  claim.delivery = publisher.Send(messages);
  return claim;
}

}  // namespace

int64_t LastIssuedId(pqxx::transaction_base& tx) { return tx.exec1(kLastIdSql)[0].as<int64_t>(); }

Relay::Relay(pg::Pool* pool, kafka::Publisher* publisher, RelayOptions options)
    : pool_(pool), publisher_(publisher), options_(options) {}

void Relay::AdvanceFinal(pqxx::work& tx) {
  if (fence_.has_value()) {
    if (tx.exec_params1(kAnyStillRunningSql, fence_->writers)[0].as<bool>()) return;
    final_id_ = std::max(final_id_, fence_->last_id);
    fence_.reset();
  }
  // The last id first, then the writers: a writer holding an id up to it
  // took its lock before the id, so it is among them unless it has ended.
  Fence fence;
  fence.last_id = LastIssuedId(tx);
  if (fence.last_id <= final_id_) return;  // no id taken since: nothing to fence
  fence.writers = tx.exec1(kWritersSql)[0].as<std::string>();
  if (fence.writers == "{}") {
    final_id_ = std::max(final_id_, fence.last_id);
  } else {
    fence_ = std::move(fence);
  }
}

absl::StatusOr<bool> Relay::WritersEnded(absl::Duration within) {
  absl::StatusOr<std::string> writers = pool_->Transact(
      [](pqxx::work& tx) { return tx.exec1(kWritersSql)[0].as<std::string>(); });
  if (!writers.ok()) return writers.status();
  const absl::Time deadline = absl::Now() + within;
  while (true) {
    absl::StatusOr<bool> running = pool_->Transact([&](pqxx::work& tx) {
      return tx.exec_params1(kAnyStillRunningSql, *writers)[0].as<bool>();
    });
    if (!running.ok()) return running.status();
    if (!*running) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

absl::StatusOr<int> Relay::RunOnce() {
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<int> {
    if (!tx.exec1(kRelayLockSql)[0].as<bool>()) return 0;
    // Losing this commit in a server crash only publishes the batches again
    // (consumers deduplicate), so it need not wait for the WAL flush.
    tx.exec("SET LOCAL synchronous_commit = off");
    AdvanceFinal(tx);
    const int64_t watermark = tx.exec1("SELECT published_upto FROM outbox_relay")[0].as<int64_t>();
    behind_ = fence_.has_value() && fence_->last_id > std::max(watermark, final_id_);
    if (final_id_ <= watermark) return 0;
    // Read and send batch after batch without waiting: while the broker
    // acknowledges one, the next is read from the database. Then wait for
    // every acknowledgement and raise the watermark over them all.
    std::vector<std::unique_ptr<kafka::Delivery>> deliveries;
    int total = 0;
    int64_t published_upto = watermark;
    for (int i = 0; i < options_.batches_per_commit; ++i) {
      // Stop at the first failure known so far: a later batch sent after a
      // failed one would reach the topic before the failed one's events are
      // published again, out of order.
      for (auto& delivery : deliveries) {
        absl::Status so_far = delivery->Wait(absl::ZeroDuration());
        if (!so_far.ok() && !absl::IsDeadlineExceeded(so_far)) return so_far;
      }
      Claim claim =
          ReadAndSend(tx, published_upto, final_id_, options_.batch_size, *publisher_);
      if (claim.count < 0) {
        return absl::DataLossError("outbox: a batched row does not parse");
      }
      if (claim.count < options_.batch_size) {
        // Every final row is read: the watermark may pass the ids of rolled
        // back writers up to the last final id.
        published_upto = final_id_;
      } else {
        published_upto = claim.last_id;
      }
      if (claim.count == 0) break;
      total += claim.count;
      deliveries.push_back(std::move(claim.delivery));
      if (published_upto == final_id_) break;
    }
    for (auto& delivery : deliveries) {
      absl::Status s = delivery->Wait(options_.publish_timeout);
      if (!s.ok()) return s;  // rollback: the watermark stays
    }
    tx.exec_params("UPDATE outbox_relay SET published_upto = $1", published_upto);
    return total;
  }, pg::TxnOptions{.max_attempts = 2});
}

absl::StatusOr<MaintainReport> Relay::Maintain() {
  struct State {
    bool locked = false;
    int64_t next_id = 0;
    int64_t watermark = 0;
    std::vector<int64_t> partitions;  // attached, a detach pending among them
    std::optional<int64_t> pending;   // detached CONCURRENTLY, not finalized
    std::vector<int64_t> detached;    // ours, detached, not dropped yet
    int64_t current_bytes = 0;
    bool created_next = false;
  };
  const absl::Time now = absl::Now();
  // Inspect, and create the next partition when the current one is big or
  // old enough. It must be committed before any writer can take its ids.
  absl::StatusOr<State> state = pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<State> {
    State s;
    if (!tx.exec1(kRelayLockSql)[0].as<bool>()) return s;
    s.locked = true;
    pqxx::row r = tx.exec1("SELECT " MERIDIAN_OUTBOX_LAST_ID
                           " + 1, (SELECT published_upto FROM outbox_relay)");
    s.next_id = r[0].as<int64_t>();
    s.watermark = r[1].as<int64_t>();
    const int64_t current = PartitionOf(s.next_id);
    for (const auto& row : tx.exec(kPartitionsSql)) {
      const std::string name = row[0].as<std::string>();
      int64_t k;
      if (name.rfind(kPartitionPrefix, 0) != 0 ||
          !absl::SimpleAtoi(name.substr(sizeof(kPartitionPrefix) - 1), &k)) {
        continue;  // not ours
      }
      if (!row[2].as<bool>()) {
        if (k < current) s.detached.push_back(k);
        continue;
      }
      s.partitions.push_back(k);
      if (row[3].as<bool>()) s.pending = k;
      if (k == current) s.current_bytes = row[1].as<int64_t>();
    }
    if (current != current_partition_) {
      current_partition_ = current;
      current_since_ = now;
    }
    const bool used = s.next_id > std::max<int64_t>(FirstIdOf(current), 1);
    const bool rotate = used && (s.current_bytes >= options_.partition_bytes ||
                                 now - current_since_ >= options_.partition_age);
    if (!rotate) return s;
    const std::string next = PartitionName(current + 1);
    if (std::find(s.partitions.begin(), s.partitions.end(), current + 1) ==
        s.partitions.end()) {
      tx.exec(absl::StrCat("CREATE TABLE ", next, " (LIKE outbox INCLUDING STORAGE)"));
      // SHARE UPDATE EXCLUSIVE on outbox: writers go on meanwhile.
      tx.exec(absl::StrCat("ALTER TABLE outbox ATTACH PARTITION ", next, " FOR VALUES FROM (",
                           FirstIdOf(current + 1), ") TO (", FirstIdOf(current + 2), ")"));
      s.partitions.push_back(current + 1);
    }
    s.created_next = true;
    return s;
  });
  if (!state.ok()) return state.status();
  MaintainReport report;
  if (!state->locked) return report;
  if (state->created_next) {
    // A statement that started before the partition was attached does not
    // know it: an id there would find no partition. Wait for the writers of
    // now to end (later ones see it), then move writers to the new partition:
    // the sequence jumps to its first id (a gap in ids is harmless). Never
    // backwards. Writers still open after a while: next time.
    absl::StatusOr<bool> quiet = WritersEnded(options_.rotate_wait);
    if (!quiet.ok()) return quiet.status();
    if (!*quiet) return report;
    absl::Status moved = pool_->Transact([&](pqxx::work& tx) -> absl::Status {
      if (!tx.exec1(kRelayLockSql)[0].as<bool>()) return absl::OkStatus();
      const int64_t first = FirstIdOf(PartitionOf(state->next_id) + 1);
      // Called (true): the last id reads as first - 1 from now on, never as
      // "not called yet" (which pg_sequence_last_value cannot tell apart
      // from a new sequence).
      tx.exec_params(
          "SELECT setval('outbox_id_seq', $1::bigint - 1, true)"
          " WHERE " MERIDIAN_OUTBOX_LAST_ID " + 1 < $1::bigint",
          first);
      report.rotated = true;
      return absl::OkStatus();
    });
    if (!moved.ok()) return moved;
  }
  // A partition below the current one whose last id is at or below the
  // watermark holds only published (or rolled back) rows, and no writer can
  // add to it: every id in it was final when the watermark passed it. It
  // goes without stopping writers. DROP TABLE of a partition takes ACCESS
  // EXCLUSIVE on `outbox` itself, so every writer queued behind it until it
  // committed: ~15 ms once a minute at 1,000 registrations/s, and up to
  // drop_lock_timeout whenever a transaction held `outbox` open. Detached
  // CONCURRENTLY first (SHARE UPDATE EXCLUSIVE on `outbox`: it waits for
  // the transactions using `outbox`, and none waits for it), a partition is
  // a table of its own, dropped under its own lock.
  const int64_t current = PartitionOf(state->next_id);
  // A detach that timed out, or whose connection was lost, between its two
  // steps is pending, and PostgreSQL allows one at a time: finished first.
  // FINALIZE waits for every older snapshot in the database, not only for
  // the users of `outbox`: where long transactions never stop, it may never
  // get its window, and no later partition could go. Past
  // finalize_patience the partition is dropped as a partition, which makes
  // writers wait for up to drop_lock_timeout; if even that fails, FINALIZE
  // has another finalize_patience before the next such try.
  if (state->pending.has_value()) {
    if (!pending_since_.has_value() || pending_since_->first != *state->pending) {
      pending_since_.emplace(*state->pending, now);
    }
    const bool finalize = now - pending_since_->second < options_.finalize_patience;
    absl::StatusOr<bool> finished = DropPartition(*state->pending, finalize);
    if (!finished.ok()) return finished.status();
    if (!*finished) {
      if (!finalize) pending_since_->second = now;
      return report;  // still pending: next time
    }
    pending_since_.reset();
    ++report.dropped;
  }
  // Detached and not dropped (the relay stopped between the two).
  for (int64_t k : state->detached) {
    absl::StatusOr<bool> dropped = DropPartition(k, /*finalize=*/false);
    if (!dropped.ok()) return dropped.status();
    report.dropped += *dropped;
  }
  for (int64_t k : state->partitions) {
    if (k == state->pending || k >= current || FirstIdOf(k + 1) - 1 > state->watermark) {
      continue;
    }
    absl::StatusOr<bool> detached = DetachPartition(k);
    if (!detached.ok()) return detached.status();
    if (!*detached) break;  // pending (or another relay's): next time
    absl::StatusOr<bool> dropped = DropPartition(k, /*finalize=*/false);
    if (!dropped.ok()) return dropped.status();
    report.dropped += *dropped;
  }
  return report;
}

absl::StatusOr<bool> Relay::DetachPartition(int64_t k) {
  // Not inside a transaction block (PostgreSQL runs it as two transactions
  // of its own), so on a connection in autocommit mode, with the relay lock
  // held for the session and a lock timeout bounding its wait for the
  // transactions using `outbox` (a timeout leaves the partition pending).
  // The connection is closed after, so neither outlives the call.
  absl::StatusOr<bool> detached = pool_->Read(
      [&](pqxx::nontransaction& tx) -> bool {
        absl::Cleanup close = [&] { tx.conn().disconnect(); };
        if (!tx.exec1(kRelaySessionLockSql)[0].as<bool>()) return false;
        // Released before the connection closes: a closing backend drops its
        // locks only as it exits, after the client has gone on, and the
        // relay's next poll would find its own lock still held.
        absl::Cleanup unlock = [&] {
          try {
            tx.exec(kRelaySessionUnlockSql);
          } catch (const std::exception&) {
            // The connection is lost, and the lock with it.
          }
        };
        // Still attached, not pending: else another relay's doing.
        const std::optional<bool> pending = DetachPending(tx, k);
        if (!pending.has_value() || *pending) return false;
        tx.exec(absl::StrCat("SET lock_timeout = ", LockTimeoutMs()));
        tx.exec(absl::StrCat("ALTER TABLE outbox DETACH PARTITION ", PartitionName(k),
                             " CONCURRENTLY"));
        return true;
      },
      pg::TxnOptions{.max_attempts = 1});
  // Its wait timed out (ABORTED): the partition is pending, finished later.
  if (!detached.ok() && absl::IsAborted(detached.status())) return false;
  return detached;
}

absl::StatusOr<bool> Relay::DropPartition(int64_t k, bool finalize) {
  absl::StatusOr<bool> dropped = pool_->Transact(
      [&](pqxx::work& tx) -> bool {
        if (!tx.exec1(kRelayLockSql)[0].as<bool>()) return false;
        tx.exec(absl::StrCat("SET LOCAL lock_timeout = ", LockTimeoutMs()));
        // Still pending: else another relay finished it meanwhile.
        if (finalize && DetachPending(tx, k).value_or(false)) {
          tx.exec(absl::StrCat("ALTER TABLE outbox DETACH PARTITION ", PartitionName(k),
                               " FINALIZE"));
        }
        tx.exec(absl::StrCat("DROP TABLE IF EXISTS ", PartitionName(k)));
        return true;
      },
      pg::TxnOptions{.max_attempts = 1});
  // Its lock not granted in time (ABORTED): try again next time.
  if (!dropped.ok() && absl::IsAborted(dropped.status())) return false;
  return dropped;
}

int64_t Relay::LockTimeoutMs() const {
  // lock_timeout = 0 would wait without end.
  return std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.drop_lock_timeout));
}

void Relay::Run(const std::function<void(const absl::Status&)>& on_error) {
  absl::Duration backoff = options_.idle_wait;
  absl::Time next_maintenance = absl::Now();
  while (!stop_) {
    if (absl::Now() >= next_maintenance) {
      absl::StatusOr<MaintainReport> m = Maintain();
      if (!m.ok() && on_error) on_error(m.status());
      next_maintenance = absl::Now() + options_.maintain_every;
    }
    absl::StatusOr<int> n = RunOnce();
    if (!n.ok()) {
      if (on_error) on_error(n.status());
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = options_.idle_wait;
    if (*n == 0) {
      absl::SleepFor(behind_ ? options_.fence_wait : options_.idle_wait);
    } else if (*n < options_.batch_size) {
      absl::SleepFor(options_.busy_wait);
    }
  }
}

absl::StatusOr<Lag> Relay::GetLag() {
  return pool_->Transact([](pqxx::work& tx) -> absl::StatusOr<Lag> {
    pqxx::row r = tx.exec1(
        "SELECT COALESCE(sum(events), 0), COALESCE(EXTRACT(EPOCH FROM clock_timestamp() -"
        " min(created_at)), 0) FROM outbox"
        " WHERE id > (SELECT published_upto FROM outbox_relay)");
    return Lag{r[0].as<int64_t>(), absl::Seconds(r[1].as<double>())};
  });
}

}  // namespace meridian::outbox
