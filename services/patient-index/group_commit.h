// Group commit: callers hand in work items, and items that wait together run
// together, in one transaction, so that a busy service pays a transaction's
// fixed costs (round trips, the commit's WAL flush) once per group instead of
// once per item. A caller becomes a group's leader when fewer than
// `max_groups` groups are running: it takes the waiting items in order (up to
// `max_items`, passing over any that conflict with an item already taken,
// which wait for a later group), runs them, and wakes their callers. No
// timer: an item that finds the way clear runs at once, alone, so batching
// costs no latency at low load and grows with the queue. Conflicting items
// run in the order they were submitted: an item is not taken while one it
// conflicts with runs, or waits ahead of it.
//
//   GroupCommit<Job> commit({.max_groups = 2, .max_items = 64},
//                           [](std::vector<Job*>& group) { ... },
//                           [](const Job& a, const Job& b) { return ...; });
//   commit.Submit(&job);  // returns once `job` has run in some group
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_GROUP_COMMIT_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_GROUP_COMMIT_H_

#include <algorithm>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace meridian::patient {

struct GroupCommitOptions {
  int max_groups = 2;  // groups running at once
  int max_items = 64;  // items per group
};

template <typename Item>
class GroupCommit {
 public:
  // `run` runs a group (its items in submission order); `conflict` says two
  // items must not share a group.
  using RunGroup = std::function<void(std::vector<Item*>& group)>;
  using Conflict = std::function<bool(const Item& a, const Item& b)>;

  GroupCommit(GroupCommitOptions options, RunGroup run, Conflict conflict)
      : options_(options), run_(std::move(run)), conflict_(std::move(conflict)) {}

  // Runs `item` in a group; returns when that group has run.
  void Submit(Item* item) { SubmitAll({item}); }

  // Runs each of `items` (in order where they conflict); returns when all
  // have run.
  void SubmitAll(const std::vector<Item*>& items) {
    std::vector<Slot> slots(items.size());
    absl::CondVar cv;  // this caller's: any of its items done, or it may lead
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < items.size(); ++i) {
      slots[i].item = items[i];
      slots[i].cv = &cv;
      waiting_.push_back(&slots[i]);
    }
    for (Slot& slot : slots) {
      while (!slot.done) {
        if (running_ < options_.max_groups && !waiting_.empty()) {
          std::vector<Slot*> group = TakeGroup();
          if (!group.empty()) {
            RunGroupUnlocked(group);
            continue;
          }
        }
        cv.Wait(&mu_);
      }
    }
  }

  // Groups run so far (for tests and metrics).
  int64_t groups_run() const {
    absl::MutexLock lock(&mu_);
    return groups_run_;
  }

 private:
  struct Slot {
    Item* item = nullptr;
    bool done = false;           // guarded by mu_
    absl::CondVar* cv = nullptr;  // its caller's: signalled when done or it may lead
  };

  void RunGroupUnlocked(const std::vector<Slot*>& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++running_;
    for (Slot* s : group) running_items_.push_back(s->item);
    mu_.Unlock();
    std::vector<Item*> items;
    items.reserve(group.size());
    for (Slot* s : group) items.push_back(s->item);
    run_(items);
    mu_.Lock();
    --running_;
    ++groups_run_;
    for (Slot* s : group) {
      running_items_.erase(
          std::find(running_items_.begin(), running_items_.end(), s->item));
      s->done = true;
      s->cv->Signal();
    }
    // The caller of the longest waiting item leads the next group.
    if (!waiting_.empty()) waiting_.front()->cv->Signal();
  }

  // The waiting items, in order, that conflict with nothing running, taken
  // or waiting ahead of them.
  std::vector<Slot*> TakeGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Slot*> group;
    std::vector<const Item*> ahead(running_items_.begin(), running_items_.end());
    // Looks a bounded way down the queue: a bulk load queues thousands.
    const size_t look = 4 * static_cast<size_t>(options_.max_items);
    for (auto it = waiting_.begin();
         it != waiting_.end() && static_cast<int>(group.size()) < options_.max_items &&
         ahead.size() < running_items_.size() + look;) {
      const Item& item = *(*it)->item;
      const bool clashes = std::any_of(ahead.begin(), ahead.end(),
                                       [&](const Item* a) { return conflict_(*a, item); });
      ahead.push_back(&item);
      if (clashes) {
        ++it;
      } else {
        group.push_back(*it);
        it = waiting_.erase(it);
      }
    }
    return group;
  }

  const GroupCommitOptions options_;
  const RunGroup run_;
  const Conflict conflict_;
  mutable absl::Mutex mu_;
  std::deque<Slot*> waiting_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<const Item*> running_items_ ABSL_GUARDED_BY(mu_);
  int64_t groups_run_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_GROUP_COMMIT_H_
