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

}  // namespace meridian::patient
