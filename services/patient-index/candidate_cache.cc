#include "services/patient-index/candidate_cache.h"

#include <algorithm>
#include <array>
#include <bitset>

#include "absl/cleanup/cleanup.h"

namespace meridian::patient {
namespace {

// The strings of a candidate, in packing order (`Record` is StoredRecord or
// const StoredRecord).
template <typename Record>
auto FieldsOf(Record& r) {
  auto& m = r.match;
  return std::array{&r.organisation_id, &r.local_id, &r.regional_id, &m.family, &m.given,
          &m.family_pinyin, &m.given_pinyin, &m.sex, &m.birth_date, &m.phone,
          &m.street_number, &m.address, &m.locality, &m.postcode, &m.region,
          &m.resident_id, &m.other_id};
}

// Each field as a 4-byte little-endian length, then its bytes.
std::string Pack(const StoredRecord& r) {
  size_t size = 0;
  for (const std::string* f : FieldsOf(r)) size += 4 + f->size();
  std::string out;
  out.reserve(size);
  for (const std::string* f : FieldsOf(r)) {
    const uint32_t n = static_cast<uint32_t>(f->size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out.append(*f);
  }
  return out;
}

void Unpack(int64_t id, const std::string& packed, StoredRecord& r) {
  r.id = id;
  r.match.id = id;
  size_t at = 0;
  for (std::string* f : FieldsOf(r)) {
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) {
      n |= static_cast<uint32_t>(static_cast<unsigned char>(packed[at + i])) << (8 * i);
    }
    f->assign(packed, at + 4, n);
    at += 4 + n;
  }
}

}  // namespace

CandidateCache::CandidateCache(size_t capacity)
    : shard_count_(capacity >= kShardedFrom ? kShards : 1),
      shard_capacity_(capacity / shard_count_),
      capacity_(shard_capacity_ * shard_count_),
      shards_(std::make_unique<Shard[]>(shard_count_)) {}

std::vector<size_t> CandidateCache::Get(absl::Span<const RecordVersion> wanted,
                                        absl::Span<StoredRecord* const> into) const
    ABSL_NO_THREAD_SAFETY_ANALYSIS /* the shards' locks, taken in a loop */ {
  std::vector<size_t> missing;
  std::vector<const Entry*> held(wanted.size(), nullptr);
  // The shards of the wanted records, locked in ascending order for all
  // three passes below (Hold takes one shard's lock only, so this order
  // cannot deadlock).
  std::bitset<kShards> touched;
  for (const RecordVersion& w : wanted) touched.set(ShardOf(w.id));
  for (size_t s = 0; s < shard_count_; ++s) {
    if (touched[s]) shards_[s].mu.ReaderLock();
  }
  absl::Cleanup unlock = [&] {
    for (size_t s = 0; s < shard_count_; ++s) {
      if (touched[s]) shards_[s].mu.ReaderUnlock();
    }
  };
  // In three passes, so that the three memory misses of each lookup (the
  // table's control bytes, its slot, the packed fields) overlap across the
  // candidates instead of following one another: with a million entries
  // they were nine tenths of this function's time, and it a fifth of the
  // service's CPU.
  for (const RecordVersion& w : wanted) shards_[ShardOf(w.id)].entries.prefetch(w.id);
  for (size_t i = 0; i < wanted.size(); ++i) {
    const auto& entries = shards_[ShardOf(wanted[i].id)].entries;
    auto it = entries.find(wanted[i].id);
    if (it == entries.end() || it->second.version != wanted[i].version) {
      missing.push_back(i);
    } else {
      held[i] = &it->second;
      __builtin_prefetch(it->second.packed.data());
    }
  }
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (held[i] != nullptr) Unpack(wanted[i].id, held[i]->packed, *into[i]);
  }
  hits_.fetch_add(static_cast<int64_t>(wanted.size() - missing.size()),
                  std::memory_order_relaxed);
  misses_.fetch_add(static_cast<int64_t>(missing.size()), std::memory_order_relaxed);
  return missing;
}

bool CandidateCache::Hold(const StoredRecord& record, int32_t version, bool evict) {
  if (shard_capacity_ == 0) return false;
  Shard& shard = shards_[ShardOf(record.id)];
  if (!evict) {
    // A full cache would drop what it packed (a start-up load past the
    // cache's size offers every remaining record).
    absl::ReaderMutexLock lock(&shard.mu);
    if (shard.entries.size() >= shard_capacity_ && !shard.entries.contains(record.id)) {
      return false;
    }
  }
  std::string packed = Pack(record);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(record.id);
  if (it != shard.entries.end()) {
    // Never go back: a slower reader may bring an older version.
    if (it->second.version < version) it->second = {version, std::move(packed)};
    return true;
  }
  if (shard.entries.size() >= shard_capacity_) {
    if (!evict) return false;
    size_t drop = std::max<size_t>(1, shard_capacity_ / 8);
    evicted_.fetch_add(static_cast<int64_t>(drop), std::memory_order_relaxed);
    for (auto e = shard.entries.begin(); e != shard.entries.end() && drop > 0; --drop) {
      shard.entries.erase(e++);
    }
  }
  shard.entries.emplace(record.id, Entry{version, std::move(packed)});
  return true;
}

CandidateCache::Stats CandidateCache::stats() const {
  Stats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  s.evicted = evicted_.load(std::memory_order_relaxed);
  return s;
}

size_t CandidateCache::size() const {
  size_t n = 0;
  for (size_t s = 0; s < shard_count_; ++s) {
    absl::ReaderMutexLock lock(&shards_[s].mu);
    n += shards_[s].entries.size();
  }
  return n;
}

}  // namespace meridian::patient
