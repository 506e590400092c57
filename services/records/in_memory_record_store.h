// The in-memory RecordStore for unit tests: same contract as the PostgreSQL
// store; events appended are kept in order; FailWith makes every call fail as
// a database that is down would.
#ifndef MERIDIAN_SERVICES_RECORDS_IN_MEMORY_RECORD_STORE_H_
#define MERIDIAN_SERVICES_RECORDS_IN_MEMORY_RECORD_STORE_H_

#include <map>
#include <mutex>
#include <tuple>

#include "services/records/record_store.h"

namespace meridian::records {

class InMemoryRecordStore : public RecordStore {
 public:
  absl::StatusOr<std::vector<WriteResult>> Write(
      const std::vector<WriteRequest>& requests, const EventFor& event_for) override;
  absl::StatusOr<std::optional<StoredRecord>> Get(const RecordKey& key) override;
  absl::StatusOr<std::vector<StoredRecord>> History(const RecordKey& key) override;
  absl::StatusOr<std::vector<StoredRecord>> Query(const RecordQuery& query,
                                                  const AuditFor& audit_for) override;

  void FailWith(absl::Status status);
  std::vector<outbox::PendingEvent> events() const;

 private:
  using Key = std::tuple<int16_t, std::string, std::string>;
  static Key KeyOf(const RecordKey& k) {
    return {static_cast<int16_t>(k.kind), k.organisation_id, k.local_id};
  }

  mutable std::mutex mu_;
  absl::Status fail_with_;
  // Every version of every record, oldest first.
  std::map<Key, std::vector<StoredRecord>> records_;
  std::vector<outbox::PendingEvent> events_;
};

}  // namespace meridian::records

#endif  // MERIDIAN_SERVICES_RECORDS_IN_MEMORY_RECORD_STORE_H_
