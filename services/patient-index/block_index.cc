#include "services/patient-index/block_index.h"

#include "absl/container/flat_hash_set.h"

namespace meridian::patient {

void BlockIndex::Add(int position, const MatchRecord& record) {
  for (std::string& key : BlockingKeys(record)) {
    blocks_[std::move(key)].push_back(position);
  }
}

std::vector<int> BlockIndex::Candidates(const MatchRecord& record, int per_key,
                                        int total) const {
  std::vector<int> out;
  absl::flat_hash_set<int> seen;
  for (const std::string& key : BlockingKeys(record)) {
    auto it = blocks_.find(key);
    if (it == blocks_.end()) continue;
    const std::vector<int>& block = it->second;
    int taken = 0;
    for (auto p = block.rbegin(); p != block.rend() && taken < per_key; ++p) {
      ++taken;
      if (seen.insert(*p).second) {
        out.push_back(*p);
        if (static_cast<int>(out.size()) >= total) return out;
      }
    }
  }
  return out;
}

std::vector<std::pair<int, int>> CandidatePairs(const std::vector<MatchRecord>& records,
                                                int per_key, int total) {
  BlockIndex index;
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < static_cast<int>(records.size()); ++i) {
    for (int c : index.Candidates(records[i], per_key, total)) pairs.emplace_back(i, c);
    index.Add(i, records[i]);
  }
  return pairs;
}

}  // namespace meridian::patient
