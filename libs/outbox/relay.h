// Publishes committed outbox rows to Kafka, in id order, and remembers how
// far it got.
//
// One RunOnce(): in a transaction, take the relay lock for this schema (a
// transaction-scoped advisory lock, so that with several replicas exactly one
// relays at a time), read the rows above the watermark
// (`outbox_relay.published_upto`) up to the last *final* id, in id order, in
// batches of about batch_size events, and hand each batch to the idempotent
// producer without waiting (the next batch is read while the broker
// acknowledges the last), for up to batches_per_commit batches; wait for
// every acknowledgement, raise the watermark, commit. If Kafka fails, the
// transaction rolls back and the watermark stays; if the relay dies after
// publishing but before the commit, the batch is published again: delivery is
// at-least-once, and consumers deduplicate by event ID
// (outbox::MarkProcessed). Nothing is deleted per row: Maintain() starts a new
// partition now and then and drops the partitions wholly below the watermark.
//
// Final ids. A writer takes its id from the sequence when it inserts but may
// commit long after a writer with a higher id, and a watermark must never
// pass an id that may still commit. An INSERT locks `outbox` before it takes
// an id, so the relay takes a *fence*: it reads the sequence's last id, then
// the transactions holding a write lock on `outbox` at that moment. Once none
// of those is still running, every id up to the fence's last id is final
// (committed and visible, or rolled back). Until then rows above the
// previous fence wait: an outbox writer that stays open holds back the events
// after it (other transactions in the cluster do not). Events therefore leave
// in id order, and a key's events leave in the order their writers serialised
// on the key's rows.
#ifndef MERIDIAN_LIBS_OUTBOX_RELAY_H_
#define MERIDIAN_LIBS_OUTBOX_RELAY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kafka/kafka.h"
#include "libs/pg/pool.h"

namespace meridian::outbox {

// The last id the schema's outbox sequence has handed out (0 before the
// first), read under the sequence's buffer lock: never an id not handed out
// yet. The fence's first read.
int64_t LastIssuedId(pqxx::transaction_base& tx);

struct RelayOptions {
  int batch_size = 5000;
  // Batches read and sent before waiting for the broker's acknowledgements
  // and committing; they are published and committed together.
  int batches_per_commit = 4;
  absl::Duration idle_wait = absl::Milliseconds(50);
  // Wait between polls while rows exist that are not final yet.
  absl::Duration fence_wait = absl::Milliseconds(2);
  // Wait after a poll that published less than a batch: events gather for
  // the next poll instead of a poll per few events (each poll is a
  // transaction of about eight statements and a broker round trip; at 1,000
  // registrations/s polling without a pause made a tenth of PostgreSQL's
  // statements). It adds at most this to an event's way to Kafka.
  absl::Duration busy_wait = absl::Milliseconds(10);
  absl::Duration publish_timeout = absl::Seconds(30);
  absl::Duration max_backoff = absl::Seconds(5);
  // Maintain(): start a new partition when the current one holds a row and
  // has reached this size (table, TOAST and index) or this age.
  int64_t partition_bytes = int64_t{64} << 20;
  absl::Duration partition_age = absl::Minutes(5);
  // How long detaching a published partition may wait for the
  // transactions using `outbox` (no writer waits for it meanwhile), and
  // dropping it for its table's lock; it is finished later.
  absl::Duration drop_lock_timeout = absl::Milliseconds(20);
  // How long a detach left pending is finished with FINALIZE (which waits
  // for every older snapshot in the database, blocking no writer) before
  // the partition is dropped as it is (writers then wait for at most
  // drop_lock_timeout; a drop that fails waits this long again).
  absl::Duration finalize_patience = absl::Minutes(1);
  // How long a new partition waits for the writers that cannot see it yet
  // before writers move to it (else: next time).
  absl::Duration rotate_wait = absl::Seconds(1);
  // How often Run() calls Maintain().
  absl::Duration maintain_every = absl::Seconds(1);
};

struct Lag {
  int64_t pending = 0;                           // events not yet published
  absl::Duration oldest = absl::ZeroDuration();  // age of the oldest of them
};

struct MaintainReport {
  bool rotated = false;  // a new partition was started
  int dropped = 0;       // published partitions dropped
};

class Relay {
 public:
  // `pool`'s search_path must start with the service's schema.
  Relay(pg::Pool* pool, kafka::Publisher* publisher, RelayOptions options = {});

  // Publishes up to batches_per_commit batches. Returns how many events were
  // published (0 when none were pending and final, or another replica holds
  // the relay lock).
  absl::StatusOr<int> RunOnce();

  // Starts a new partition when the current one is big or old enough, and
  // drops every partition wholly at or below the watermark. Independent of
  // Kafka; Run() calls it every maintain_every.
  absl::StatusOr<MaintainReport> Maintain();

  // Calls RunOnce (and Maintain) until Stop(), backing off while Kafka or
  // PostgreSQL is unavailable; `on_error` (optional) hears every failure.
  void Run(const std::function<void(const absl::Status&)>& on_error = nullptr);
  void Stop() { stop_ = true; }

  absl::StatusOr<Lag> GetLag();

 private:
  struct Fence {
    int64_t last_id = 0;
    std::string writers;  // text[] of the virtual transaction IDs writing
  };

  // Whether the transactions writing to the outbox now have all ended
  // within `within`.
  absl::StatusOr<bool> WritersEnded(absl::Duration within);

  // Detaches partition k CONCURRENTLY: true when done; false when another
  // relay holds the relay lock, or when its wait timed out and left it
  // pending.
  absl::StatusOr<bool> DetachPartition(int64_t k);
  // Drops table k: detached, pending (finished first when `finalize`, else
  // dropped as a partition) or left behind. False when another relay holds
  // the relay lock or a lock was not granted within drop_lock_timeout.
  absl::StatusOr<bool> DropPartition(int64_t k, bool finalize);
  // drop_lock_timeout in whole milliseconds, at least 1.
  int64_t LockTimeoutMs() const;

  // Raises final_id_ if the pending fence has cleared; takes a new fence
  // when none is pending.
  void AdvanceFinal(pqxx::work& tx);

  pg::Pool* pool_;
  kafka::Publisher* publisher_;
  const RelayOptions options_;
  std::atomic<bool> stop_{false};
  // Only the thread calling RunOnce/Maintain touches these.
  int64_t final_id_ = 0;          // every id up to here is final
  std::optional<Fence> fence_;    // taken, not cleared yet
  bool behind_ = false;           // rows may wait above final_id_
  int64_t current_partition_ = -1;
  absl::Time current_since_;
  // The partition seen pending, and since when.
  std::optional<std::pair<int64_t, absl::Time>> pending_since_;
};

}  // namespace meridian::outbox

#endif  // MERIDIAN_LIBS_OUTBOX_RELAY_H_
