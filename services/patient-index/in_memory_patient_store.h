// PatientStore in memory, for unit tests. Run() works on a copy of the state
// and swaps it in only when the function succeeds, like a transaction.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_IN_MEMORY_PATIENT_STORE_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_IN_MEMORY_PATIENT_STORE_H_

#include <map>
#include <mutex>
#include <set>
#include <functional>

#include "meridian/events/v1/envelope.pb.h"
#include "services/patient-index/block_index.h"
#include "services/patient-index/patient_store.h"

namespace meridian::patient {

struct EmittedEvent {
  outbox::EventHeader header;
  std::string payload_type;
  std::string payload;
};

class InMemoryPatientStore : public PatientStore {
 public:
  absl::Status Run(const std::function<absl::Status(PatientUnit&)>& fn) override;
  absl::StatusOr<std::optional<StoredRecord>> FindSource(
      const std::string& organisation_id, const std::string& local_id) override;
  absl::StatusOr<std::vector<StoredRecord>> RecordsOf(
      const std::string& regional_id) override;
  absl::StatusOr<std::vector<StoredRecord>> Candidates(const MatchRecord& r,
                                                       int per_key,
                                                       int total) override;
  absl::StatusOr<std::vector<ReviewTaskRow>> OpenReviewTasks(
      const std::string& after_id, int limit) override;
  absl::StatusOr<StoredRecord> RecordById(int64_t id) override;
  absl::StatusOr<std::string> ResolveIdentity(const std::string& regional_id) override;

  std::vector<EmittedEvent> events() const;
  int review_tasks() const;

  // For tests: called with every batch of records a unit saves, inside the
  // unit (the store's mutex held); a non-OK status fails the unit.
  using SaveHook = std::function<absl::Status(const std::vector<StoredRecord*>&)>;
  void set_save_hook(SaveHook hook) { save_hook_ = std::move(hook); }

  struct State {
    std::map<int64_t, StoredRecord> records;
    std::map<std::pair<std::string, std::string>, int64_t> by_source;
    std::map<std::string, std::string> identities;  // id -> merged into ("")
    std::map<std::string, MergeRow> merges;          // not undone
    std::vector<EmittedEvent> events;
    std::vector<ReviewTaskRow> tasks;  // in creation order
    std::set<std::string> closed_tasks;
    std::set<std::pair<int64_t, int64_t>> kept_apart;  // (min, max)
    int review_tasks = 0;
    int64_t next_id = 1;
  };

 private:
  mutable std::mutex mu_;
  State state_;
  SaveHook save_hook_;
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_IN_MEMORY_PATIENT_STORE_H_
