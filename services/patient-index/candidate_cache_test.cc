#include "services/patient-index/candidate_cache.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace meridian::patient {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

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

// From 65,536 entries the cache is split into shards, each with its part of
// the capacity.
TEST(CandidateCache, ALargeCacheServesAndEvictsAcrossItsShards) {
  CandidateCache cache(70'000);
  EXPECT_EQ(cache.capacity(), 69'952u);  // 64 shards of 1,093
  for (int64_t id = 1; id <= 200; ++id) cache.Put(Candidate(id, "李"), 1);
  cache.Put(Candidate(77, "赵"), 2);
  std::vector<RecordVersion> wanted;
  for (int64_t id = 200; id >= 1; --id) wanted.push_back({id, id == 77 ? 2 : 1});
  wanted.push_back({500, 1});
  std::vector<StoredRecord> found(wanted.size());
  std::vector<StoredRecord*> into;
  for (StoredRecord& r : found) into.push_back(&r);
  EXPECT_THAT(cache.Get(wanted, into), ElementsAre(200));
  for (size_t i = 0; i < 200; ++i) EXPECT_EQ(found[i].id, 200 - static_cast<int64_t>(i));
  EXPECT_EQ(found[200 - 77].match.family, "赵");

  // Full: the newest go in by evicting; PutIfRoom drops nothing.
  for (int64_t id = 201; id <= 69'952; ++id) {
    ASSERT_TRUE(cache.PutIfRoom(Candidate(id, "王"), 1));
  }
  EXPECT_EQ(cache.size(), 69'952u);
  EXPECT_FALSE(cache.PutIfRoom(Candidate(100'000, "王"), 1));
  EXPECT_EQ(cache.stats().evicted, 0);
  cache.Put(Candidate(100'000, "王"), 1);
  EXPECT_EQ(cache.stats().evicted, 1'093 / 8);  // an eighth of one shard
  EXPECT_EQ(cache.size(), 69'952u - 1'093 / 8 + 1);
  std::vector<StoredRecord> one(1);
  StoredRecord* one_into[] = {&one[0]};
  EXPECT_THAT(cache.Get({{100'000, 1}}, one_into), IsEmpty());
  EXPECT_EQ(one[0].match.family, "王");
}

// Readers of many shards and writers that replace and evict at once:
// every record served is whole and the one put at the version asked for.
TEST(CandidateCache, ConcurrentReadersAndWritersSeeWholeRecords) {
  CandidateCache cache(65'536);  // 64 shards of 1,024
  constexpr int64_t kIds = 70'000;  // more than it holds: Puts evict
  auto record = [](int64_t id, int32_t version) {
    StoredRecord r = Candidate(id, absl::StrCat("v", version));
    r.match.given = std::string(20 + version % 7, 'g');  // sizes change too
    return r;
  };
  std::atomic<int32_t> published{1};  // every ID put at least at this version
  for (int64_t id = 1; id <= kIds; ++id) cache.Put(record(id, 1), 1);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int32_t version = 2; !stop; ++version) {
      for (int64_t id = 1; id <= kIds; ++id) cache.Put(record(id, version), version);
      published = version;
    }
  });
  int64_t hits = 0;
  for (int round = 0; round < 3'000; ++round) {
    const int32_t v = published.load();
    std::vector<RecordVersion> wanted;
    for (int64_t id = 1 + round % 97; id <= kIds; id += 97 * 7) wanted.push_back({id, v});
    std::vector<StoredRecord> found(wanted.size());
    std::vector<StoredRecord*> into;
    for (StoredRecord& r : found) into.push_back(&r);
    const std::vector<size_t> missing = cache.Get(wanted, into);
    for (size_t i = 0; i < wanted.size(); ++i) {
      if (std::find(missing.begin(), missing.end(), i) != missing.end()) continue;
      ++hits;
      const StoredRecord expected = record(wanted[i].id, v);
      EXPECT_EQ(found[i].id, wanted[i].id);
      EXPECT_EQ(found[i].local_id, expected.local_id);
      EXPECT_EQ(found[i].match.family, expected.match.family);
      EXPECT_EQ(found[i].match.given, expected.match.given);
      EXPECT_EQ(found[i].match.other_id, std::string(40, 'x'));
    }
  }
  stop = true;
  writer.join();
  EXPECT_GT(hits, 1'000);  // not a test of misses only
  EXPECT_GT(cache.stats().evicted, 0);
  EXPECT_LE(cache.size(), 65'536u);
}

}  // namespace
}  // namespace meridian::patient
