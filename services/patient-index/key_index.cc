#include "services/patient-index/key_index.h"

#include <algorithm>
#include <iterator>

#include "absl/cleanup/cleanup.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace meridian::patient {

absl::StatusOr<Snapshot> Snapshot::Parse(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  Snapshot s;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &s.xmin) ||
      !absl::SimpleAtoi(parts[1], &s.xmax) || s.xmin > s.xmax) {
    return absl::InternalError("snapshot: not xmin:xmax:xip");
  }
  for (absl::string_view x : absl::StrSplit(parts[2], ',', absl::SkipEmpty())) {
    uint64_t xid;
    if (!absl::SimpleAtoi(x, &xid) || xid < s.xmin || xid >= s.xmax) {
      return absl::InternalError("snapshot: an in-progress ID outside [xmin, xmax)");
    }
    s.xip.push_back(xid);
  }
  std::sort(s.xip.begin(), s.xip.end());
  return s;
}

void Snapshot::IncludeInProgress(uint64_t xid) {
  if (xid >= xmax) return;
  auto at = std::lower_bound(xip.begin(), xip.end(), xid);
  if (at == xip.end() || *at != xid) xip.insert(at, xid);
  if (xid < xmin) xmin = xid;
}

uint64_t KeyIndex::Hash(absl::string_view key) {
  return static_cast<uint64_t>(absl::Hash<absl::string_view>{}(key));
}

std::vector<size_t> KeyIndex::ShardsOf(const std::vector<uint64_t>& sorted_keys) {
  std::vector<size_t> shards;
  for (uint64_t k : sorted_keys) {
    if (shards.empty() || shards.back() != ShardOfKey(k)) shards.push_back(ShardOfKey(k));
  }
  return shards;
}

void KeyIndex::Apply(int64_t id, int32_t version, const std::vector<std::string>& keys) {
  std::vector<uint64_t> hashes;
  hashes.reserve(keys.size());
  for (const std::string& k : keys) hashes.push_back(Hash(k));
  std::sort(hashes.begin(), hashes.end());
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());

  RecordShard& record_shard = record_shards_[ShardOfRecord(id)];
  absl::MutexLock record_lock(&record_shard.mu);
  Held& held = record_shard.records[id];
  if (held.keys != nullptr && held.version >= version) return;
  // Keys the new version no longer has, and those it adds (both sorted).
  std::vector<uint64_t> removed, added;
  std::set_difference(held.keys.get(), held.keys.get() + held.key_count, hashes.begin(),
                      hashes.end(), std::back_inserter(removed));
  std::set_difference(hashes.begin(), hashes.end(), held.keys.get(),
                      held.keys.get() + held.key_count, std::back_inserter(added));
  std::vector<uint64_t> changed;
  std::merge(removed.begin(), removed.end(), added.begin(), added.end(),
             std::back_inserter(changed));
  // Every changed key's shard at once, so that a Lookup sees the record
  // under its old keys or its new ones, never under neither.
  {
    const std::vector<size_t> shards = ShardsOf(changed);
    for (size_t s : shards) key_shards_[s].mu.Lock();
    absl::Cleanup unlock = [&] {
      for (auto s = shards.rbegin(); s != shards.rend(); ++s) key_shards_[*s].mu.Unlock();
    };
    for (uint64_t k : removed) Remove(key_shards_[ShardOfKey(k)], id, k);
    for (uint64_t k : added) Add(key_shards_[ShardOfKey(k)], id, k);
  }
  held.version = version;
  held.key_count = static_cast<uint32_t>(hashes.size());
  held.keys = std::make_unique<uint64_t[]>(hashes.size());
  std::copy(hashes.begin(), hashes.end(), held.keys.get());
}

void KeyIndex::Add(KeyShard& shard, int64_t id, uint64_t key) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Ids& ids = shard.ids_by_key[key];
  // New records come mostly in ID order: append.
  if (ids.empty() || ids.back() < id) {
    ids.push_back(id);
    return;
  }
  auto at = std::lower_bound(ids.begin(), ids.end(), id);
  if (at == ids.end() || *at != id) ids.insert(at, id);
}

void KeyIndex::Remove(KeyShard& shard, int64_t id, uint64_t key)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  auto it = shard.ids_by_key.find(key);
  if (it == shard.ids_by_key.end()) return;
  Ids& ids = it->second;
  auto at = std::lower_bound(ids.begin(), ids.end(), id);
  if (at != ids.end() && *at == id) ids.erase(at);
  if (ids.empty()) shard.ids_by_key.erase(it);
}

void KeyIndex::Advance(const Snapshot& s) {
  absl::MutexLock lock(&horizon_mu_);
  // Of two snapshots with the same xmax (both with their takers' own IDs
  // counted in progress), the later saw the same transactions finish and
  // those below xmax that finished since: fewer in progress is newer.
  if (!horizon_.has_value() || s.xmax > horizon_->xmax ||
      (s.xmax == horizon_->xmax && s.xip.size() < horizon_->xip.size())) {
    horizon_ = s;
  }
}

std::optional<Snapshot> KeyIndex::horizon() const {
  absl::ReaderMutexLock lock(&horizon_mu_);
  return horizon_;
}

bool KeyIndex::loaded() const {
  absl::ReaderMutexLock lock(&horizon_mu_);
  return horizon_.has_value();
}

std::vector<RecordVersion> KeyIndex::Lookup(const std::vector<std::string>& keys,
                                            int per_key) const {
  std::vector<uint64_t> hashes;
  hashes.reserve(keys.size());
  for (const std::string& k : keys) hashes.push_back(Hash(k));
  std::vector<uint64_t> sorted = hashes;
  std::sort(sorted.begin(), sorted.end());
  // The keys' shards all at once (see Apply).
  const std::vector<size_t> shards = ShardsOf(sorted);
  std::vector<RecordVersion> out;
  {
    for (size_t s : shards) key_shards_[s].mu.ReaderLock();
    absl::Cleanup unlock = [&] {
      for (auto s = shards.rbegin(); s != shards.rend(); ++s) key_shards_[*s].mu.ReaderUnlock();
    };
    for (uint64_t h : hashes) {
      const KeyShard& shard = key_shards_[ShardOfKey(h)];
      auto it = shard.ids_by_key.find(h);
      if (it == shard.ids_by_key.end()) continue;
      const Ids& ids = it->second;
      int taken = 0;
      for (auto id = ids.rbegin(); id != ids.rend() && taken < per_key; ++id, ++taken) {
        out.push_back({*id, 0});
      }
    }
  }
  // Then the versions, one record shard at a time. A record under a key is
  // always held: Apply adds it before its keys, under its shard's lock.
  std::vector<size_t> order(out.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ShardOfRecord(out[a].id) < ShardOfRecord(out[b].id);
  });
  for (size_t i = 0; i < order.size();) {
    const RecordShard& shard = record_shards_[ShardOfRecord(out[order[i]].id)];
    absl::ReaderMutexLock lock(&shard.mu);
    for (; i < order.size() && &record_shards_[ShardOfRecord(out[order[i]].id)] == &shard; ++i) {
      out[order[i]].version = shard.records.at(out[order[i]].id).version;
    }
  }
  return out;
}

size_t KeyIndex::records() const {
  size_t n = 0;
  for (size_t i = 0; i < kRecordShards; ++i) {
    absl::ReaderMutexLock lock(&record_shards_[i].mu);
    n += record_shards_[i].records.size();
  }
  return n;
}

size_t KeyIndex::keys() const {
  size_t n = 0;
  for (size_t i = 0; i < kKeyShards; ++i) {
    absl::ReaderMutexLock lock(&key_shards_[i].mu);
    n += key_shards_[i].ids_by_key.size();
  }
  return n;
}

}  // namespace meridian::patient
