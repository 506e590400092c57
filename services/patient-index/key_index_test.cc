#include "services/patient-index/key_index.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"

namespace meridian::patient {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<int64_t> Ids(const std::vector<RecordVersion>& v) {
  std::vector<int64_t> out;
  for (const RecordVersion& r : v) out.push_back(r.id);
  return out;
}

TEST(KeyIndex, ServesTheNewestRecordsOfEachKeyInTheOrderOfTheKeys) {
  KeyIndex index;
  index.Apply(3, 1, {"a", "b"});
  index.Apply(1, 1, {"a"});
  index.Apply(2, 1, {"a", "c"});  // out of ID order: a later commit
  index.Apply(4, 1, {"b"});
  EXPECT_THAT(Ids(index.Lookup({"a"}, 10)), ElementsAre(3, 2, 1));
  EXPECT_THAT(Ids(index.Lookup({"a"}, 2)), ElementsAre(3, 2));
  EXPECT_THAT(Ids(index.Lookup({"b", "a", "zzz"}, 1)), ElementsAre(4, 3));
  EXPECT_THAT(Ids(index.Lookup({"c", "b"}, 10)), ElementsAre(2, 4, 3));
  EXPECT_THAT(index.Lookup({"zzz"}, 10), IsEmpty());
  EXPECT_EQ(index.records(), 4u);
  EXPECT_EQ(index.keys(), 3u);
}

TEST(KeyIndex, ANewVersionMovesTheRecordToItsKeysAndAnOlderOneIsIgnored) {
  KeyIndex index;
  index.Apply(7, 1, {"a", "b", "b"});
  index.Apply(8, 1, {"b"});
  index.Apply(7, 2, {"b", "c"});
  EXPECT_THAT(index.Lookup({"a"}, 10), IsEmpty());
  std::vector<RecordVersion> b = index.Lookup({"b"}, 10);
  ASSERT_EQ(b.size(), 2u);  // once each, though "b" came twice
  EXPECT_EQ(b[0].id, 8);
  EXPECT_EQ(b[0].version, 1);
  EXPECT_EQ(b[1].id, 7);
  EXPECT_EQ(b[1].version, 2);
  // A catch-up that read version 1 before another applied version 2.
  index.Apply(7, 1, {"a"});
  EXPECT_THAT(index.Lookup({"a"}, 10), IsEmpty());
  EXPECT_THAT(Ids(index.Lookup({"c"}, 10)), ElementsAre(7));
  // So is the same version again.
  index.Apply(7, 2, {"zzz"});
  EXPECT_THAT(index.Lookup({"zzz"}, 10), IsEmpty());
  // A key left with no record is gone.
  index.Apply(7, 3, {"b"});
  EXPECT_EQ(index.keys(), 1u);
  EXPECT_EQ(index.records(), 2u);
}

TEST(KeyIndex, ARecordWithoutKeysIsHeldButNeverACandidate) {
  KeyIndex index;
  index.Apply(1, 1, {});
  EXPECT_EQ(index.records(), 1u);
  EXPECT_EQ(index.keys(), 0u);
  index.Apply(1, 1, {"a"});  // same version: ignored
  EXPECT_THAT(index.Lookup({"a"}, 10), IsEmpty());
  index.Apply(1, 2, {"a"});
  EXPECT_THAT(Ids(index.Lookup({"a"}, 10)), ElementsAre(1));
}

// Versions of the same records applied from several threads at once (as
// catch-ups of concurrent units do), with lookups alongside: each record
// ends up under the keys of its newest version only, whatever the order.
TEST(KeyIndex, ConcurrentVersionsOfARecordLeaveOnlyTheNewestKeys) {
  KeyIndex index;
  constexpr int kRecords = 500;
  constexpr int kVersions = 20;
  auto keys_of = [](int64_t id, int32_t version) {
    return std::vector<std::string>{absl::StrCat("k", id, "/", version),
                                    absl::StrCat("shared", id % 7),
                                    absl::StrCat("v", version)};
  };
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      for (const RecordVersion& r : index.Lookup({"shared0", "shared3", "v5"}, 50)) {
        ASSERT_GE(r.version, 1);
        ASSERT_LE(r.version, kVersions);
      }
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      // Each writer applies versions in its own order: all of them (w = 0
      // and 2), or the even ones twice each (w = 1); all three end at 20.
      for (int i = 0; i < kVersions; ++i) {
        const int32_t version = 1 + (i * (w + 1) * 7 + w) % kVersions;
        for (int64_t id = 1; id <= kRecords; ++id) index.Apply(id, version, keys_of(id, version));
      }
    });
  }
  for (std::thread& t : writers) t.join();
  stop = true;
  reader.join();
  EXPECT_EQ(index.records(), static_cast<size_t>(kRecords));
  // Each record's own key of its newest version, 7 shared keys, one "v20".
  EXPECT_EQ(index.keys(), static_cast<size_t>(kRecords + 7 + 1));
  for (int64_t id = 1; id <= kRecords; ++id) {
    std::vector<RecordVersion> r = index.Lookup({absl::StrCat("k", id, "/", kVersions)}, 10);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].id, id);
    EXPECT_EQ(r[0].version, kVersions);
  }
  EXPECT_THAT(index.Lookup({"v19", "k1/19"}, 10), IsEmpty());
  EXPECT_EQ(index.Lookup({"v20"}, kRecords).size(), static_cast<size_t>(kRecords));
}

// A record that moves between two keys is always found under one of them
// by a lookup of both, in either order: an Apply's key changes are seen all
// at once. (Removing one key and adding the other under separate locks let
// a lookup read the first key after the removal and the second before the
// addition, and miss the record.)
TEST(KeyIndex, ARecordMovingBetweenKeysIsNeverMissedByALookupOfBoth) {
  KeyIndex index;
  // Keys in different shards, whatever their hashes (256 keys cover many).
  std::vector<std::string> keys;
  for (int i = 0; i < 64; ++i) keys.push_back(absl::StrCat("key", i));
  for (int64_t id = 1; id <= 32; ++id) index.Apply(id, 1, {keys[2 * (id - 1)]});
  std::atomic<bool> stop{false};
  std::atomic<int64_t> misses{0}, lookups{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      while (!stop) {
        for (int64_t id = 1; id <= 32; ++id) {
          const std::string& a = keys[2 * (id - 1)];
          const std::string& b = keys[2 * (id - 1) + 1];
          const std::vector<RecordVersion> found =
              r == 0 ? index.Lookup({a, b}, 10) : index.Lookup({b, a}, 10);
          if (found.empty()) ++misses;
          ++lookups;
        }
      }
    });
  }
  // Each record alternates between its two keys.
  for (int32_t version = 2; version <= 3'000; ++version) {
    for (int64_t id = 1; id <= 32; ++id) {
      index.Apply(id, version, {keys[2 * (id - 1) + version % 2]});
    }
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_GT(lookups.load(), 0);
  EXPECT_EQ(misses.load(), 0);
}

TEST(KeyIndex, KeepsTheNewestSnapshot) {
  KeyIndex index;
  EXPECT_FALSE(index.horizon().has_value());
  ASSERT_OK_AND_ASSIGN(Snapshot s10, Snapshot::Parse("5:10:5,7"));
  ASSERT_OK_AND_ASSIGN(Snapshot s12, Snapshot::Parse("7:12:7"));
  ASSERT_OK_AND_ASSIGN(Snapshot s12_later, Snapshot::Parse("12:12:"));
  index.Advance(s12);
  index.Advance(s10);  // an older catch-up finishing late
  ASSERT_TRUE(index.horizon().has_value());
  EXPECT_EQ(index.horizon()->xmax, 12u);
  EXPECT_THAT(index.horizon()->xip, ElementsAre(7));
  index.Advance(s12_later);  // 7 finished since, below xmax
  EXPECT_THAT(index.horizon()->xip, IsEmpty());
  index.Advance(s12);
  EXPECT_THAT(index.horizon()->xip, IsEmpty());
}

TEST(Snapshot, CountsItsTakersOwnTransactionInProgress) {
  ASSERT_OK_AND_ASSIGN(Snapshot s, Snapshot::Parse("748:760:750,748"));
  EXPECT_THAT(s.xip, ElementsAre(748, 750));  // sorted
  s.IncludeInProgress(755);
  s.IncludeInProgress(750);  // already there
  s.IncludeInProgress(760);  // at xmax: counts as not finished already
  s.IncludeInProgress(740);  // below xmin: xmin moves down
  EXPECT_THAT(s.xip, ElementsAre(740, 748, 750, 755));
  EXPECT_EQ(s.xmin, 740u);
  EXPECT_EQ(s.xmax, 760u);
}

TEST(Snapshot, ParsesWhatPostgresPrintsAndRejectsTheRest) {
  ASSERT_OK_AND_ASSIGN(Snapshot s, Snapshot::Parse("748:752:748,750"));
  EXPECT_EQ(s.xmin, 748u);
  EXPECT_EQ(s.xmax, 752u);
  EXPECT_THAT(s.xip, ElementsAre(748, 750));
  ASSERT_OK_AND_ASSIGN(Snapshot none, Snapshot::Parse("752:752:"));
  EXPECT_THAT(none.xip, IsEmpty());
  for (const char* bad : {"", "1:2", "1:2:3:4", "x:2:", "3:2:", "1:5:7", "2:5:1",
                          "1:5:a", "-1:5:"}) {
    EXPECT_FALSE(Snapshot::Parse(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace meridian::patient
