#include "services/consent/pg_consent_store.h"

#include "libs/timestamps/timestamps.h"
#include "libs/ids/uuid.h"
#include "libs/pg/sql.h"
#include "libs/status/status_macros.h"
#include "libs/xref/xref.h"

namespace meridian::consent {
namespace {

absl::StatusOr<v1::Directive> Parse(const pqxx::field& f) {
  v1::Directive d;
  if (!d.ParseFromString(pqxx::binarystring(f).str())) {
    return absl::InternalError("stored directive does not parse");
  }
  return d;
}

}  // namespace

std::vector<pg::MigrationSet> AllMigrations() {
  return {outbox::MigrationSet(), xref::MigrationSet(), {"consent", &Migrations()}};
}

absl::StatusOr<v1::Directive> PgConsentStore::Create(const v1::Directive& directive,
                                                     const std::string& request_key,
                                                     const EventFor& event_for) {
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<v1::Directive> {
    if (!request_key.empty()) {
      pqxx::result existing = pg::ExecPrepared(
          tx, "consent_by_request_key",
          "SELECT body FROM directive WHERE recorded_by = $1 AND request_key = $2",
          directive.recorded_by(), request_key);
      if (!existing.empty()) return Parse(existing[0][0]);
    }
    pqxx::result inserted = pg::ExecPrepared(
        tx, "consent_insert",
        "INSERT INTO directive (directive_id, regional_id, recorded_by, request_key, body)"
        " VALUES ($1, $2, $3, NULLIF($4, ''), $5) ON CONFLICT (recorded_by, request_key)"
        " DO NOTHING",
        directive.directive_id(), directive.regional_id(), directive.recorded_by(),
        request_key, pqxx::binarystring(directive.SerializeAsString()));
    if (inserted.affected_rows() == 0) {
      return absl::AbortedError("the same request is being stored concurrently");
    }
    MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, event_for(directive));
    MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, {e}));
    return directive;
  });
}

absl::StatusOr<v1::Directive> PgConsentStore::Revoke(const std::string& directive_id,
                                                     const std::string& by,
                                                     const std::string& reason, absl::Time at,
                                                     const EventFor& event_for) {
  if (!ids::IsUuid(directive_id)) return absl::NotFoundError("directive_id: no such directive");
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<v1::Directive> {
    pqxx::result r = tx.exec_params(
        "SELECT body FROM directive WHERE directive_id = $1 FOR UPDATE", directive_id);
    if (r.empty()) return absl::NotFoundError("directive_id: no such directive");
    MERIDIAN_ASSIGN_OR_RETURN(v1::Directive d, Parse(r[0][0]));
    if (d.has_revoked_at()) return d;
    *d.mutable_revoked_at() = timestamps::ToProto(at);
    d.set_revoked_by(by);
    d.set_revoke_reason(reason);
    tx.exec_params("UPDATE directive SET revoked_at = $2::timestamptz, body = $3"
                   " WHERE directive_id = $1",
                   directive_id, pg::TimestampLiteral(at),
                   pqxx::binarystring(d.SerializeAsString()));
    MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, event_for(d));
    MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, {e}));
    return d;
  });
}

absl::StatusOr<std::optional<v1::Directive>> PgConsentStore::Get(
    const std::string& directive_id) {
  if (!ids::IsUuid(directive_id)) return std::optional<v1::Directive>();
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<std::optional<v1::Directive>> {
    pqxx::result r = pg::ExecPrepared(tx, "consent_get",
                                      "SELECT body FROM directive WHERE directive_id = $1",
                                      directive_id);
    if (r.empty()) return std::optional<v1::Directive>();
    MERIDIAN_ASSIGN_OR_RETURN(v1::Directive d, Parse(r[0][0]));
    return std::optional<v1::Directive>(std::move(d));
  });
}

absl::StatusOr<std::vector<v1::Directive>> PgConsentStore::ForPatient(
    const std::string& regional_id, bool include_revoked) {
  if (!ids::IsUuid(regional_id)) return std::vector<v1::Directive>{};
  // The hot path of Check: one autocommit statement.
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<v1::Directive>> {
    pqxx::result r = pg::ExecPrepared(
        tx, "consent_for_patient",
        "SELECT body FROM directive WHERE regional_id = $1"
        " AND ($2::boolean OR revoked_at IS NULL) ORDER BY created_at, directive_id",
        regional_id, include_revoked);
    std::vector<v1::Directive> out;
    for (const auto& row : r) {
      MERIDIAN_ASSIGN_OR_RETURN(v1::Directive d, Parse(row[0]));
      out.push_back(std::move(d));
    }
    return out;
  });
}

absl::Status PgConsentStore::Emit(const std::vector<outbox::PendingEvent>& events) {
  return pool_->Transact([&](pqxx::work& tx) { return outbox::AppendAll(tx, events); });
}

}  // namespace meridian::consent
