// The in-memory PrescriptionStore for unit tests: same contract as the
// PostgreSQL store; events appended are kept in order; FailWith makes every
// call fail as a database that is down would. Update runs `mutate` under the
// store's lock (it must not call the store).
#ifndef MERIDIAN_SERVICES_PRESCRIPTIONS_IN_MEMORY_PRESCRIPTION_STORE_H_
#define MERIDIAN_SERVICES_PRESCRIPTIONS_IN_MEMORY_PRESCRIPTION_STORE_H_

#include <map>
#include <mutex>
#include <utility>

#include "services/prescriptions/prescription_store.h"

namespace meridian::prescriptions {

class InMemoryPrescriptionStore : public PrescriptionStore {
 public:
  absl::StatusOr<InsertResult> Insert(const StoredPrescription& rx,
                                      const std::vector<outbox::PendingEvent>& events) override;
  absl::StatusOr<std::optional<StoredPrescription>> Get(
      const std::string& prescription_id) override;
  absl::StatusOr<std::optional<StoredPrescription>> FindByLocal(
      const std::string& organisation_id, const std::string& local_id) override;
  absl::StatusOr<StoredPrescription> Update(const std::string& prescription_id,
                                            const Mutation& mutate) override;
  absl::StatusOr<std::vector<StoredPrescription>> Query(const PatientQuery& query,
                                                        const AuditFor& audit_for) override;
  absl::StatusOr<std::vector<std::string>> DueToExpire(absl::Time now, int limit) override;

  void FailWith(absl::Status status);
  std::vector<outbox::PendingEvent> events() const;

 private:
  mutable std::mutex mu_;
  absl::Status fail_with_;
  std::map<std::string, StoredPrescription> by_id_;
  // (organisation, local ID) -> prescription ID.
  std::map<std::pair<std::string, std::string>, std::string> by_local_;
  std::vector<outbox::PendingEvent> events_;
};

}  // namespace meridian::prescriptions

#endif  // MERIDIAN_SERVICES_PRESCRIPTIONS_IN_MEMORY_PRESCRIPTION_STORE_H_
