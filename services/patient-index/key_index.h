// The blocking keys of every committed source record, in memory: each key
// with the IDs of the records that have it, and each record with its version
// and keys. PgPatientStore serves candidates from it instead of an indexed
// table (a table cost each registration a dozen index entries written and a
// dozen index descents read), and keeps it current from the database: a
// full load at start, then, before each lookup, the records committed since
// the PostgreSQL snapshot it last caught up to (see `Snapshot`). Knows
// nothing of SQL. Thread-safe.
//
//   KeyIndex index;
//   index.Apply(record_id, version, BlockingKeys(match));  // per committed row
//   index.Advance(snapshot);  // every row committed as of `snapshot` applied
//   std::vector<RecordVersion> c = index.Lookup(BlockingKeys(probe), 50);
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_KEY_INDEX_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_KEY_INDEX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "services/patient-index/candidate_cache.h"

namespace meridian::patient {

// A PostgreSQL snapshot as pg_current_snapshot() prints it
// ("xmin:xmax:xip,..."): transactions below xmin had finished, those at or
// above xmax had not finished (nor, mostly, started), those in `xip` were in
// progress. What a later snapshot sees that this one did not was written by
// a transaction in `xip` or at or above `xmax`; that is what a catch-up asks
// for. PostgreSQL leaves the taking transaction's own ID out of `xip`:
// IncludeInProgress puts it back before the snapshot stands for others.
struct Snapshot {
  uint64_t xmin = 0;
  uint64_t xmax = 0;
  std::vector<uint64_t> xip;  // ascending

  static absl::StatusOr<Snapshot> Parse(absl::string_view text);
  // Counts `xid` in progress (nothing to do at or above xmax, where every
  // transaction counts as not finished).
  void IncludeInProgress(uint64_t xid);
};

class KeyIndex {
 public:
  KeyIndex() = default;
  KeyIndex(const KeyIndex&) = delete;
  KeyIndex& operator=(const KeyIndex&) = delete;

  // Holds record `id` at `version` under `keys` (any order, repeats
  // ignored), replacing the keys of an older version. A version no newer
  // than the one held is ignored: catch-ups may overlap.
  void Apply(int64_t id, int32_t version, const std::vector<std::string>& keys);

  // Says that every record committed as of `s` has been applied. The index
  // keeps the newest such snapshot (by xmax): an older one adds nothing.
  void Advance(const Snapshot& s);
  // The snapshot the index is complete as of; nullopt until the first
  // Advance (not loaded).
  std::optional<Snapshot> horizon() const;
  bool loaded() const;

  // For each of `keys` in turn, the `per_key` newest records (highest IDs)
  // held under it, newest first, with their versions. A record under
  // several of the keys appears once per key. The keys are read as of one
  // moment (an Apply's key changes are seen all or not at all: a record
  // moving from one of `keys` to another is found under one of them); a
  // version may be newer than the one whose keys matched (an extra
  // candidate, never a missing one).
  std::vector<RecordVersion> Lookup(const std::vector<std::string>& keys,
                                    int per_key) const;

  size_t records() const;
  size_t keys() const;

 private:
  // Both maps are split into shards, each a table behind its own lock, so
  // that a table that grows (rehashing every entry it holds, under its
  // lock) holds its lock for a small part of the time: one table of 1.8M
  // records took ~200 ms to grow, and every registration waited for it.
  // Locks are taken in one order: a record's shard, then key shards in
  // ascending order, all of an Apply's or a Lookup's at once.
  static constexpr size_t kKeyShards = 256;
  static constexpr size_t kRecordShards = 64;

  // Keys are held by a 64-bit hash (never stored, so any hash will do): a
  // collision only adds a candidate, which matching then scores. Its top
  // byte picks the shard; the shard's table hashes it again.
  static uint64_t Hash(absl::string_view key);
  static size_t ShardOfKey(uint64_t key) { return key >> 56; }
  static size_t ShardOfRecord(int64_t id) {
    return static_cast<uint64_t>(id) & (kRecordShards - 1);
  }

  struct Held {
    int32_t version = 0;
    uint32_t key_count = 0;
    std::unique_ptr<uint64_t[]> keys;  // sorted, distinct
  };
  using Ids = absl::InlinedVector<int64_t, 2>;  // ascending

  struct alignas(64) KeyShard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<uint64_t, Ids> ids_by_key ABSL_GUARDED_BY(mu);
  };
  struct alignas(64) RecordShard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<int64_t, Held> records ABSL_GUARDED_BY(mu);
  };

  // The shards of `sorted_keys` (ascending, as the keys' top bytes are),
  // without repeats.
  static std::vector<size_t> ShardsOf(const std::vector<uint64_t>& sorted_keys);
  // Under the lock of `id`'s record shard and of the key's shard.
  static void Remove(KeyShard& shard, int64_t id, uint64_t key);
  static void Add(KeyShard& shard, int64_t id, uint64_t key);

  std::unique_ptr<KeyShard[]> key_shards_ = std::make_unique<KeyShard[]>(kKeyShards);
  std::unique_ptr<RecordShard[]> record_shards_ =
      std::make_unique<RecordShard[]>(kRecordShards);
  mutable absl::Mutex horizon_mu_;
  std::optional<Snapshot> horizon_ ABSL_GUARDED_BY(horizon_mu_);
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_KEY_INDEX_H_
