// The PostgreSQL ConsentStore (migrations/).
#ifndef MERIDIAN_SERVICES_CONSENT_PG_CONSENT_STORE_H_
#define MERIDIAN_SERVICES_CONSENT_PG_CONSENT_STORE_H_

#include <vector>

#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "services/consent/consent_store.h"

namespace meridian::consent {

// The consent component's migrations, and the schema's full set: outbox,
// xref, consent.
const std::vector<pg::Migration>& Migrations();
std::vector<pg::MigrationSet> AllMigrations();

class PgConsentStore : public ConsentStore {
 public:
  explicit PgConsentStore(pg::Pool* pool) : pool_(pool) {}
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

 private:
  pg::Pool* pool_;
};

}  // namespace meridian::consent

#endif  // MERIDIAN_SERVICES_CONSENT_PG_CONSENT_STORE_H_
