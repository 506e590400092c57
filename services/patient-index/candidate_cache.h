// Candidates' match data by record ID and version, kept in memory so that a
// lookup fetches from the database only the records it has not seen at
// their current version (PgPatientStore). Every update of a source record
// raises its version, so an entry is never stale: a record that changed is
// simply a miss. Bounded: when full, an eighth of the entries (arbitrary
// ones) is dropped. Thread-safe.
//
// A large cache is split into shards by record ID, each with its own table,
// lock and an even part of the capacity, so that a table that grows (which
// rehashes all its entries under its lock) or drops entries holds its lock
// for a small part of the time: one table of 1.8M entries took ~200 ms to
// grow, and every registration waited for it. A Get for a group of
// registrations touches most shards, so it still waits for any shard that
// grows, but for ~1/64th as long (their growths come within a few dozen
// records of each other). When one shard is full, an eighth of that shard
// is dropped.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_CANDIDATE_CACHE_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_CANDIDATE_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "services/patient-index/patient_store.h"

namespace meridian::patient {

struct RecordVersion {
  int64_t id = 0;
  int32_t version = 0;
};

class CandidateCache {
 public:
  explicit CandidateCache(size_t capacity);

  // Fills *into[i] with wanted[i]'s record when held at exactly its version
  // (IDs, regional ID and match fields, as Candidates returns them; the
  // rest of the record is left as it was), in place: a lookup serves ~70
  // candidates, and building each elsewhere to move it cost more than
  // filling it. Returns the positions not held. `into` has wanted.size()
  // elements.
  std::vector<size_t> Get(absl::Span<const RecordVersion> wanted,
                          absl::Span<StoredRecord* const> into) const;
  // Holds `record` (its match fields and IDs) as of `version`, replacing an
  // older version.
  void Put(const StoredRecord& record, int32_t version) { Hold(record, version, true); }
  // As Put, but drops nothing: false, and `record` not held, when its part
  // of the cache is full (a start-up load fills the cache with the newest
  // records this way).
  bool PutIfRoom(const StoredRecord& record, int32_t version) {
    return Hold(record, version, false);
  }

  size_t size() const;
  size_t capacity() const { return capacity_; }

  // Candidates served and not (Get), and entries dropped to make room, since
  // the start: a registry larger than the cache shows as misses, each a
  // candidate read from PostgreSQL instead.
  struct Stats {
    int64_t hits = 0;
    int64_t misses = 0;
    int64_t evicted = 0;
  };
  Stats stats() const;

 private:
  // Shards of a cache of this many entries or more; a smaller one is one
  // table (it grows in well under a millisecond).
  static constexpr size_t kShardedFrom = 1 << 16;
  static constexpr size_t kShards = 64;

  struct Entry {
    int32_t version;
    std::string packed;  // the record's strings, length-prefixed
  };
  struct alignas(64) Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<int64_t, Entry> entries ABSL_GUARDED_BY(mu);
  };

  size_t ShardOf(int64_t id) const { return static_cast<uint64_t>(id) & (shard_count_ - 1); }
  bool Hold(const StoredRecord& record, int32_t version, bool evict);

  const size_t shard_count_;  // 1 or kShards: a power of two
  const size_t shard_capacity_;
  const size_t capacity_;  // shard_capacity_ in each shard
  std::unique_ptr<Shard[]> shards_;
  mutable std::atomic<int64_t> hits_{0}, misses_{0};
  std::atomic<int64_t> evicted_{0};
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_CANDIDATE_CACHE_H_
