#include "services/patient-index/candidate_cache.h"

#include <optional>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace meridian::patient {
namespace {

using ::testing::ElementsAre;

StoredRecord Candidate(int64_t id, const std::string& family) {
  StoredRecord r;
  r.id = id;
  r.match.id = id;
  r.organisation_id = "org-" + family;
  r.local_id = std::to_string(id);
  r.regional_id = "regional-" + family;
  r.match.family = family;
  r.match.given = "明";
  r.match.birth_date = "19800101";
  r.match.other_id = std::string(40, 'x');  // longer than a short string
  return r;
}

TEST(CandidateCache, ServesEachRecordOnlyAtItsVersionInTheOrderAsked) {
  CandidateCache cache(100);
  cache.Put(Candidate(1, "李"), 1);
  cache.Put(Candidate(2, "王"), 3);
  cache.Put(Candidate(3, "张"), 1);
  cache.Put(Candidate(3, "赵"), 2);  // a newer version replaces
  cache.Put(Candidate(3, "钱"), 1);  // an older one never does
  std::vector<RecordVersion> wanted = {{3, 2}, {9, 1}, {1, 1}, {2, 2}, {1, 1}};
  std::vector<StoredRecord> found(wanted.size());
  std::vector<StoredRecord*> into;
  for (StoredRecord& r : found) into.push_back(&r);
  found[1].local_id = "left alone";
  EXPECT_THAT(cache.Get(wanted, into), ElementsAre(1, 3));  // unknown; version 3 held
  EXPECT_EQ(found[0].match.family, "赵");
  EXPECT_EQ(found[0].id, 3);
  EXPECT_EQ(found[0].match.id, 3);
  EXPECT_EQ(found[0].regional_id, "regional-赵");
  EXPECT_EQ(found[0].match.other_id, std::string(40, 'x'));
  EXPECT_EQ(found[1].id, 0);
  EXPECT_EQ(found[1].local_id, "left alone");
  EXPECT_EQ(found[2].organisation_id, "org-李");
  EXPECT_EQ(found[3].id, 0);
  EXPECT_EQ(found[4].id, 1);  // asked twice, served twice
  EXPECT_EQ(found[4].local_id, "1");
  const CandidateCache::Stats stats = cache.stats();
  EXPECT_EQ(stats.hits, 3);
  EXPECT_EQ(stats.misses, 2);
  EXPECT_EQ(stats.evicted, 0);
}

TEST(CandidateCache, StaysWithinItsCapacity) {
  CandidateCache cache(16);
  for (int64_t id = 1; id <= 100; ++id) cache.Put(Candidate(id, "李"), 1);
  EXPECT_LE(cache.size(), 16u);
  EXPECT_GT(cache.size(), 0u);
  EXPECT_EQ(cache.stats().evicted, 100 - static_cast<int64_t>(cache.size()));
  CandidateCache off(0);
  off.Put(Candidate(1, "李"), 1);
  EXPECT_EQ(off.size(), 0u);
}

}  // namespace
}  // namespace meridian::patient
