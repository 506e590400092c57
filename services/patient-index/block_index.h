// An in-memory blocking index: blocking key -> record positions, newest last.
// Used by the benchmark and by the in-memory store; the PostgreSQL store
// serves the same keys from an indexed table.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_BLOCK_INDEX_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_BLOCK_INDEX_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "services/patient-index/match_record.h"

namespace meridian::patient {

class BlockIndex {
 public:
  void Add(int position, const MatchRecord& record);
  // Distinct positions sharing a key with `record`, at most `per_key` (the
  // newest) from each key and `total` overall.
  std::vector<int> Candidates(const MatchRecord& record, int per_key,
                              int total) const;

 private:
  absl::flat_hash_map<std::string, std::vector<int>> blocks_;
};

// The candidate pairs of a whole set of records, as the online lookups make
// them: each record against those before it. Pairs are (later, earlier)
// positions in `records`.
std::vector<std::pair<int, int>> CandidatePairs(const std::vector<MatchRecord>& records,
                                                int per_key, int total);

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_BLOCK_INDEX_H_
