// Publishes committed outbox rows to Kafka and marks them sent.
//
// One RunOnce(): in a transaction, take the relay lock for this schema (a
// transaction-scoped advisory lock, so that with several replicas exactly one
// relays at a time and each key's events leave in commit order), delete the
// oldest pending rows holding about batch_size events, in id order (one
// statement; no row locks are needed since only the lock holder deletes), and
// hand their events to the idempotent producer; repeat for up to
// batches_per_commit batches (reading the next from the database while the
// broker acknowledges the last), wait for every acknowledgement, then commit:
// a row leaves the outbox exactly when its event is durably in Kafka. If
// Kafka fails, the transaction rolls back and the rows stay pending; if the
// relay dies after publishing but before the commit, the rows are published
// again: delivery is at-least-once, and consumers deduplicate by event ID
// (outbox::MarkProcessed).
#ifndef MERIDIAN_LIBS_OUTBOX_RELAY_H_
#define MERIDIAN_LIBS_OUTBOX_RELAY_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kafka/kafka.h"
#include "libs/pg/pool.h"

namespace meridian::outbox {

struct RelayOptions {
  int batch_size = 5000;
  // Batches claimed and sent before waiting for the broker's acknowledgements
  // and committing; they are published and committed together.
  int batches_per_commit = 4;
  absl::Duration idle_wait = absl::Milliseconds(50);
  absl::Duration publish_timeout = absl::Seconds(30);
  absl::Duration max_backoff = absl::Seconds(5);
};

struct Lag {
  int64_t pending = 0;                           // rows not yet published
  absl::Duration oldest = absl::ZeroDuration();  // age of the oldest of them
};

class Relay {
 public:
  // `pool`'s search_path must start with the service's schema.
  Relay(pg::Pool* pool, kafka::Publisher* publisher, RelayOptions options = {});

  // Publishes one batch. Returns how many events were published (0 when none
  // were pending or another replica holds the relay lock).
  absl::StatusOr<int> RunOnce();

  // Calls RunOnce until Stop(), backing off while Kafka or PostgreSQL is
  // unavailable; `on_error` (optional) hears every failure.
  void Run(const std::function<void(const absl::Status&)>& on_error = nullptr);
  void Stop() { stop_ = true; }

  absl::StatusOr<Lag> GetLag();

 private:
  pg::Pool* pool_;
  kafka::Publisher* publisher_;
  const RelayOptions options_;
  std::atomic<bool> stop_{false};
};

}  // namespace meridian::outbox

#endif  // MERIDIAN_LIBS_OUTBOX_RELAY_H_
