#include "services/patient-index/group_commit.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace meridian::patient {
namespace {

struct Item {
  int key = 0;        // items with the same key conflict
  int runs = 0;       // how often it ran
  int group_size = 0;  // the size of the group it ran in
};

TEST(GroupCommit, EveryItemRunsOnceInGroupsOfNonConflictingItems) {
  std::atomic<int> running{0}, most_running{0};
  std::atomic<int> conflicting_groups{0};
  GroupCommit<Item> commit(
      {.max_groups = 2, .max_items = 8},
      [&](std::vector<Item*>& group) {
        const int now = ++running;
        int seen = most_running.load();
        while (now > seen && !most_running.compare_exchange_weak(seen, now)) {
        }
        std::vector<int> keys;
        for (Item* item : group) {
          ++item->runs;
          item->group_size = static_cast<int>(group.size());
          keys.push_back(item->key);
        }
        std::sort(keys.begin(), keys.end());
        if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) ++conflicting_groups;
        absl::SleepFor(absl::Milliseconds(2));  // a transaction's time
        --running;
      },
      [](const Item& a, const Item& b) { return a.key == b.key; });

  constexpr int kThreads = 16, kPerThread = 40;
  std::vector<std::vector<Item>> items(kThreads, std::vector<Item>(kPerThread));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        items[t][i].key = (t * kPerThread + i) % 5;  // many conflicts
        commit.Submit(&items[t][i]);
        EXPECT_EQ(items[t][i].runs, 1);  // ran before Submit returned
      }
    });
  }
  for (std::thread& t : threads) t.join();

  int largest = 0;
  for (const auto& per_thread : items) {
    for (const Item& item : per_thread) {
      EXPECT_EQ(item.runs, 1);
      largest = std::max(largest, item.group_size);
    }
  }
  EXPECT_EQ(conflicting_groups.load(), 0);
  EXPECT_LE(most_running.load(), 2);
  EXPECT_LE(largest, 5);  // five keys: at most five items without a conflict
  EXPECT_GT(largest, 1);  // items that waited together ran together
  EXPECT_LT(commit.groups_run(), kThreads * kPerThread);
}

TEST(GroupCommit, ConflictingItemsRunInTheOrderSubmitted) {
  std::mutex mu;
  std::vector<int> order;  // of the key-0 items
  GroupCommit<Item> commit(
      {.max_groups = 4, .max_items = 8},
      [&](std::vector<Item*>& group) {
        absl::SleepFor(absl::Microseconds(200));
        std::lock_guard<std::mutex> lock(mu);
        for (Item* item : group) {
          ++item->runs;
          if (item->key % 3 == 0) order.push_back(item->group_size);  // its position
        }
      },
      [](const Item& a, const Item& b) { return a.key % 3 == 0 && b.key % 3 == 0; });
  // Two callers at once: a bulk of 90 and single items alongside.
  std::vector<Item> bulk(90);
  for (int i = 0; i < 90; ++i) {
    bulk[i].key = i;
    bulk[i].group_size = i;  // remembered position
  }
  std::vector<Item*> pointers;
  for (Item& item : bulk) pointers.push_back(&item);
  std::thread other([&] {
    for (int i = 0; i < 50; ++i) {
      Item single;
      single.key = 1;
      commit.Submit(&single);
      EXPECT_EQ(single.runs, 1);
    }
  });
  commit.SubmitAll(pointers);
  other.join();
  for (const Item& item : bulk) EXPECT_EQ(item.runs, 1);
  ASSERT_EQ(order.size(), 30u);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
}

TEST(GroupCommit, AnItemAloneRunsAtOnceAlone) {
  int groups = 0;
  GroupCommit<Item> commit({}, [&](std::vector<Item*>& group) {
    ++groups;
    for (Item* item : group) item->group_size = static_cast<int>(group.size());
  }, [](const Item&, const Item&) { return false; });
  Item a, b;
  commit.Submit(&a);
  commit.Submit(&b);
  EXPECT_EQ(groups, 2);
  EXPECT_EQ(a.group_size, 1);
  EXPECT_EQ(commit.groups_run(), 2);
}

}  // namespace
}  // namespace meridian::patient
