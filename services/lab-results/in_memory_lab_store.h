// The in-memory LabStore for unit tests: same contract as the PostgreSQL
// store; events appended are kept in order; FailWith makes every call fail as
// a database that is down would.
#ifndef MERIDIAN_SERVICES_LAB_RESULTS_IN_MEMORY_LAB_STORE_H_
#define MERIDIAN_SERVICES_LAB_RESULTS_IN_MEMORY_LAB_STORE_H_

#include <map>
#include <mutex>
#include <utility>

#include "services/lab-results/lab_store.h"

namespace meridian::labs {

class InMemoryLabStore : public LabStore {
 public:
  absl::StatusOr<WriteResult> Write(const ReportRow& row, const EventsFor& events_for) override;
  absl::StatusOr<std::optional<StoredReport>> Get(const std::string& organisation_id,
                                                  const std::string& local_id) override;
  absl::StatusOr<std::vector<StoredReport>> History(const std::string& organisation_id,
                                                    const std::string& local_id) override;
  absl::StatusOr<std::vector<StoredReport>> Query(const ReportQuery& query,
                                                  const ReadEventsFor& events_for) override;

  void FailWith(absl::Status status);
  std::vector<outbox::PendingEvent> events() const;

 private:
  // (organisation_id, local_id).
  using Key = std::pair<std::string, std::string>;

  mutable std::mutex mu_;
  absl::Status fail_with_;
  // Every version of every report, oldest first.
  std::map<Key, std::vector<StoredReport>> reports_;
  std::vector<outbox::PendingEvent> events_;
};

}  // namespace meridian::labs

#endif  // MERIDIAN_SERVICES_LAB_RESULTS_IN_MEMORY_LAB_STORE_H_
