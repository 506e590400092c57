// Storage of consent directives: one interface, a PostgreSQL implementation
// (pg_consent_store.h) and an in-memory one, held to one contract test
// (consent_store_test.cc). The audit log lives in audit_log.h.
#ifndef MERIDIAN_SERVICES_CONSENT_CONSENT_STORE_H_
#define MERIDIAN_SERVICES_CONSENT_CONSENT_STORE_H_

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/outbox/outbox.h"
#include "meridian/consent/v1/consent.pb.h"

namespace meridian::consent {

using EventFor =
    std::function<absl::StatusOr<outbox::PendingEvent>(const v1::Directive& stored)>;

class ConsentStore {
 public:
  virtual ~ConsentStore() = default;

  // Stores `directive` (its ID already assigned) with the event `event_for`
  // gives, in one transaction. With a non-empty `request_key`, a second
  // request with the same key from the same recorder returns the directive
  // the first created and stores nothing.
  virtual absl::StatusOr<v1::Directive> Create(const v1::Directive& directive,
                                               const std::string& request_key,
                                               const EventFor& event_for) = 0;

  // Marks the directive revoked at `at` by `by` (a directive already revoked
  // is returned as it is, with no event). NOT_FOUND when unknown.
  virtual absl::StatusOr<v1::Directive> Revoke(const std::string& directive_id,
                                               const std::string& by, const std::string& reason,
                                               absl::Time at, const EventFor& event_for) = 0;

  virtual absl::StatusOr<std::optional<v1::Directive>> Get(
      const std::string& directive_id) = 0;

  // The patient's directives, oldest first; revoked ones only if asked.
  virtual absl::StatusOr<std::vector<v1::Directive>> ForPatient(
      const std::string& regional_id, bool include_revoked) = 0;

  // Appends events on their own, in one transaction (break-the-glass
  // notifications).
  virtual absl::Status Emit(const std::vector<outbox::PendingEvent>& events) = 0;
};

class InMemoryConsentStore : public ConsentStore {
 public:
  absl::StatusOr<v1::Directive> Create(const v1::Directive& directive,
                                       const std::string& request_key,
                                       const EventFor& event_for) override;
  absl::StatusOr<v1::Directive> Revoke(const std::string& directive_id, const std::string& by,
                                       const std::string& reason, absl::Time at,
                                       const EventFor& event_for) override;
  absl::StatusOr<std::optional<v1::Directive>> Get(const std::string& directive_id) override;
  absl::StatusOr<std::vector<v1::Directive>> ForPatient(const std::string& regional_id,
                                                        bool include_revoked) override;
  absl::Status Emit(const std::vector<outbox::PendingEvent>& events) override;

  std::vector<outbox::PendingEvent> events() const;

 private:
  mutable std::mutex mu_;
  std::vector<v1::Directive> directives_;             // creation order
  std::map<std::string, std::string> by_request_key_;  // recorder/key -> ID
  std::vector<outbox::PendingEvent> events_;
};

}  // namespace meridian::consent

#endif  // MERIDIAN_SERVICES_CONSENT_CONSENT_STORE_H_
