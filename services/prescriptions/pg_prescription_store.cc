#include "services/prescriptions/pg_prescription_store.h"

#include "absl/strings/str_cat.h"
#include "libs/ids/uuid.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/sql.h"
#include "libs/status/status_macros.h"
#include "libs/timestamps/timestamps.h"
#include "libs/xref/xref.h"

namespace meridian::prescriptions {
namespace {

// The columns every read selects, in FromRow's order (the filter columns
// are read back from `body`).
std::string Columns() {
  return absl::StrCat("verification_code, request_hash, ", pg::MicrosOf("active_until"),
                      ", body, version");
}

absl::StatusOr<StoredPrescription> FromRow(const pqxx::row& f) {
  StoredPrescription s;
  if (!s.prescription.ParseFromString(pg::ReadBytea(f[3]))) {
    return absl::InternalError("stored prescription does not parse");
  }
  s.verification_code = f[0].as<std::string>();
  s.request_hash = f[1].as<std::string>();
  s.active_until = absl::FromUnixMicros(f[2].as<int64_t>());
  s.version = f[4].as<int64_t>();
  return s;
}

// The row matching `where` (parameters `args`), or nullopt.
template <typename Txn, typename... Args>
absl::StatusOr<std::optional<StoredPrescription>> SelectOne(Txn& tx, const std::string& name,
                                                            absl::string_view where,
                                                            const Args&... args) {
  pqxx::result r = pg::ExecPrepared(
      tx, name, absl::StrCat("SELECT ", Columns(), " FROM prescription WHERE ", where), args...);
  if (r.empty()) return std::optional<StoredPrescription>();
  MERIDIAN_ASSIGN_OR_RETURN(StoredPrescription s, FromRow(r[0]));
  return std::optional<StoredPrescription>(std::move(s));
}

std::string Literal(const google::protobuf::Timestamp& t) {
  return pg::TimestampLiteral(timestamps::FromProto(t));
}

}  // namespace

std::vector<pg::MigrationSet> AllMigrations() {
  return {outbox::MigrationSet(), xref::MigrationSet(), {"prescriptions", &Migrations()}};
}

absl::StatusOr<PrescriptionStore::InsertResult> PgPrescriptionStore::Insert(
    const StoredPrescription& rx, const std::vector<outbox::PendingEvent>& events) {
  const v1::Prescription& p = rx.prescription;
  const std::string body = p.SerializeAsString();
  absl::StatusOr<InsertResult> result =
      pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<InsertResult> {
    // Waits for a concurrent insert of the same (organisation, local ID); a
    // taken prescription ID is a unique violation (ALREADY_EXISTS).
    pqxx::result inserted = pg::ExecPrepared(
        tx, "rx_insert",
        "INSERT INTO prescription (prescription_id, organisation_id, local_id,"
        " patient_local_id, status, issued_at, expires_at, active_until, verification_code,"
        " request_hash, body, version)"
        " VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7::timestamptz, $8::timestamptz,"
        " $9, $10, $11, 1)"
        " ON CONFLICT (organisation_id, local_id) DO NOTHING",
        p.prescription_id(), p.organisation_id(), p.local_id(), p.patient_local_id(),
        static_cast<int>(p.status()), Literal(p.issued_at()), Literal(p.expires_at()),
        pg::TimestampLiteral(rx.active_until), rx.verification_code, rx.request_hash,
        pqxx::binarystring(body));
    if (inserted.affected_rows() == 0) {
      MERIDIAN_ASSIGN_OR_RETURN(
          std::optional<StoredPrescription> existing,
          SelectOne(tx, "rx_find_by_local", "organisation_id = $1 AND local_id = $2",
                    p.organisation_id(), p.local_id()));
      // The conflicting row committed (the insert waited for it) and is never
      // deleted; retried (ABORTED) should that ever not hold.
      if (!existing.has_value()) return absl::AbortedError("the prescription vanished");
      return InsertResult{*std::move(existing), false};
    }
    MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, events));
    InsertResult out{rx, true};
    out.stored.version = 1;
    return out;
  });
  if (absl::IsAlreadyExists(result.status())) {
    return absl::AlreadyExistsError("prescription_id: taken by another prescription");
  }
  return result;
}

absl::StatusOr<std::optional<StoredPrescription>> PgPrescriptionStore::Get(
    const std::string& prescription_id) {
  if (!ids::IsUuid(prescription_id)) return std::optional<StoredPrescription>();
  return pool_->Read([&](pqxx::nontransaction& tx) {
    return SelectOne(tx, "rx_get", "prescription_id = $1", prescription_id);
  });
}

absl::StatusOr<std::optional<StoredPrescription>> PgPrescriptionStore::FindByLocal(
    const std::string& organisation_id, const std::string& local_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) {
    return SelectOne(tx, "rx_find_by_local", "organisation_id = $1 AND local_id = $2",
                     organisation_id, local_id);
  });
}

absl::StatusOr<StoredPrescription> PgPrescriptionStore::Update(
    const std::string& prescription_id, const Mutation& mutate) {
  if (!ids::IsUuid(prescription_id)) {
    return absl::NotFoundError("prescription_id: no such prescription");
  }
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<StoredPrescription> {
    // The lock is held until the commit: concurrent Updates of this
    // prescription wait here and then read what this one wrote.
    MERIDIAN_ASSIGN_OR_RETURN(
        std::optional<StoredPrescription> current,
        SelectOne(tx, "rx_lock", "prescription_id = $1 FOR UPDATE", prescription_id));
    if (!current.has_value()) return absl::NotFoundError("prescription_id: no such prescription");
    StoredPrescription rx = *current;
    std::vector<outbox::PendingEvent> events;
    MERIDIAN_RETURN_IF_ERROR(mutate(rx, &events));
    const v1::Prescription& p = rx.prescription;
    const v1::Prescription& was = current->prescription;
    if (p.prescription_id() != was.prescription_id() ||
        p.organisation_id() != was.organisation_id() || p.local_id() != was.local_id()) {
      return absl::InvalidArgumentError(
          "an update may not change the prescription ID, institution or local ID");
    }
    const std::string body = p.SerializeAsString();
    if (body == was.SerializeAsString() && rx.verification_code == current->verification_code &&
        rx.request_hash == current->request_hash && rx.active_until == current->active_until) {
      MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, events));
      return *std::move(current);  // unchanged: the row is not written
    }
    rx.version = current->version + 1;
    pg::ExecPrepared(
        tx, "rx_update",
        "UPDATE prescription SET patient_local_id = $2, status = $3,"
        " issued_at = $4::timestamptz, expires_at = $5::timestamptz,"
        " active_until = $6::timestamptz, verification_code = $7, request_hash = $8,"
        " body = $9, version = version + 1, updated_at = now()"
        " WHERE prescription_id = $1",
        prescription_id, p.patient_local_id(), static_cast<int>(p.status()),
        Literal(p.issued_at()), Literal(p.expires_at()), pg::TimestampLiteral(rx.active_until),
        rx.verification_code, rx.request_hash, pqxx::binarystring(body));
    MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, events));
    return rx;
  });
}

absl::StatusOr<std::vector<StoredPrescription>> PgPrescriptionStore::Query(
    const PatientQuery& q, const AuditFor& audit_for) {
  std::vector<std::string> orgs, patients;
  for (const xref::LocalId& p : q.patients) {
    orgs.push_back(p.organisation_id);
    patients.push_back(p.local_id);
  }
  const bool has_cursor = q.after.has_value();
  // Without a cursor its parameters are ignored, but must still be a valid
  // timestamptz and uuid.
  const Cursor cursor =
      has_cursor ? *q.after : Cursor{absl::UnixEpoch(), "00000000-0000-0000-0000-000000000000"};
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<StoredPrescription>> {
    pg::PreferIndexLookups(tx);
    pqxx::result r = pg::ExecPrepared(
        tx, "rx_query",
        absl::StrCat(
            "SELECT ", Columns(), " FROM prescription r"
            " JOIN unnest($1::text[], $2::text[]) AS p(org, pid)"
            " ON r.organisation_id = p.org AND r.patient_local_id = p.pid"
            " WHERE ($3::boolean OR r.organisation_id = $4)"
            // Not CANCELLED (5).
            " AND (NOT $5::boolean OR (r.active_until > $6::timestamptz"
            "      AND r.status <> 5))"
            " AND (NOT $7::boolean OR (r.issued_at, r.prescription_id)"
            "      < ($8::timestamptz, $9::uuid))"
            " ORDER BY r.issued_at DESC, r.prescription_id DESC LIMIT $10"),
        pg::TextArray(orgs), pg::TextArray(patients), q.include_other_institutions,
        q.caller_organisation, q.active_at.has_value(),
        pg::TimestampLiteral(q.active_at.value_or(absl::UnixEpoch())), has_cursor,
        pg::TimestampLiteral(cursor.issued_at), cursor.prescription_id, q.limit);
    std::vector<StoredPrescription> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      MERIDIAN_ASSIGN_OR_RETURN(StoredPrescription s, FromRow(row));
      out.push_back(std::move(s));
    }
    if (audit_for) {
      MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, audit_for(out));
      MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, {e}));
    }
    return out;
  });
}

absl::StatusOr<std::vector<std::string>> PgPrescriptionStore::DueToExpire(absl::Time now,
                                                                          int limit) {
  return pool_->Read([&](pqxx::nontransaction& tx) {
    // ISSUED, VERIFIED, PARTIALLY_DISPENSED: the partial index's predicate.
    pqxx::result r = pg::ExecPrepared(
        tx, "rx_due_to_expire",
        "SELECT prescription_id::text FROM prescription"
        " WHERE status IN (1, 2, 3) AND expires_at <= $1::timestamptz"
        " ORDER BY expires_at, prescription_id LIMIT $2",
        pg::TimestampLiteral(now), limit);
    std::vector<std::string> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(row[0].as<std::string>());
    return out;
  });
}

}  // namespace meridian::prescriptions
