// Candidates' match data by record ID and version, kept in memory so that a
// lookup fetches from the database only the records it has not seen at
// their current version (PgPatientStore). Every update of a source record
// raises its version, so an entry is never stale: a record that changed is
// simply a miss. Bounded: when full, an eighth of the entries (arbitrary
// ones) is dropped. Thread-safe.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_CANDIDATE_CACHE_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_CANDIDATE_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
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
  explicit CandidateCache(size_t capacity) : capacity_(capacity) {}

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
  void Put(const StoredRecord& record, int32_t version);

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
  struct Entry {
    int32_t version;
    std::string packed;  // the record's strings, length-prefixed
  };

  const size_t capacity_;
  mutable std::atomic<int64_t> hits_{0}, misses_{0};
  mutable absl::Mutex mu_;
  int64_t evicted_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<int64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_CANDIDATE_CACHE_H_
