#include "services/patient-index/key_index.h"

#include <algorithm>

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

void KeyIndex::Apply(int64_t id, int32_t version, const std::vector<std::string>& keys) {
  std::vector<uint64_t> hashes;
  hashes.reserve(keys.size());
  for (const std::string& k : keys) hashes.push_back(Hash(k));
  std::sort(hashes.begin(), hashes.end());
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());

  RecordShard& shard = record_shards_[ShardOfRecord(id)];
  absl::MutexLock lock(&shard.mu);
  Held& held = shard.records[id];
  if (held.keys != nullptr && held.version >= version) return;
  const uint64_t* old_begin = held.keys.get();
  const uint64_t* old_end = old_begin + held.key_count;
  // Keys the new version no longer has, then those it adds (both sorted).
  for (const uint64_t* k = old_begin; k != old_end; ++k) {
    if (!std::binary_search(hashes.begin(), hashes.end(), *k)) Remove(id, *k);
  }
  for (uint64_t k : hashes) {
    if (!std::binary_search(old_begin, old_end, k)) Add(id, k);
  }
  held.version = version;
  held.key_count = static_cast<uint32_t>(hashes.size());
  held.keys = std::make_unique<uint64_t[]>(hashes.size());
  std::copy(hashes.begin(), hashes.end(), held.keys.get());
}

void KeyIndex::Add(int64_t id, uint64_t key) {
  KeyShard& shard = key_shards_[ShardOfKey(key)];
  absl::MutexLock lock(&shard.mu);
  Ids& ids = shard.ids_by_key[key];
  // New records come mostly in ID order: append.
  if (ids.empty() || ids.back() < id) {
    ids.push_back(id);
    return;
  }
  auto at = std::lower_bound(ids.begin(), ids.end(), id);
  if (at == ids.end() || *at != id) ids.insert(at, id);
}

void KeyIndex::Remove(int64_t id, uint64_t key) {
  KeyShard& shard = key_shards_[ShardOfKey(key)];
  absl::MutexLock lock(&shard.mu);
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
  std::vector<RecordVersion> out;
  for (const std::string& k : keys) {
    const uint64_t h = Hash(k);
    const KeyShard& shard = key_shards_[ShardOfKey(h)];
    absl::ReaderMutexLock lock(&shard.mu);
    auto it = shard.ids_by_key.find(h);
    if (it == shard.ids_by_key.end()) continue;
    const Ids& ids = it->second;
    int taken = 0;
    for (auto id = ids.rbegin(); id != ids.rend() && taken < per_key; ++id, ++taken) {
      out.push_back({*id, 0});
    }
  }
  // Versions after the keys' locks are released (Apply takes a record's
  // lock, then its keys'). A record under a key is always held: Apply adds
  // it before its keys and holds its lock until they are in.
  for (RecordVersion& r : out) {
    const RecordShard& shard = record_shards_[ShardOfRecord(r.id)];
    absl::ReaderMutexLock lock(&shard.mu);
    r.version = shard.records.at(r.id).version;
  }
  return out;
}

size_t KeyIndex::records() const {
  size_t n = 0;
  for (int i = 0; i < kShards; ++i) {
    absl::ReaderMutexLock lock(&record_shards_[i].mu);
    n += record_shards_[i].records.size();
  }
  return n;
}

size_t KeyIndex::keys() const {
  size_t n = 0;
  for (int i = 0; i < kShards; ++i) {
    absl::ReaderMutexLock lock(&key_shards_[i].mu);
    n += key_shards_[i].ids_by_key.size();
  }
  return n;
}

}  // namespace meridian::patient
