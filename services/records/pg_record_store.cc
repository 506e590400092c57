#include "services/records/pg_record_store.h"

#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/copy.h"
#include "libs/pg/sql.h"
#include "libs/status/status_macros.h"
#include "libs/xref/xref.h"

namespace meridian::records {
namespace {

// The columns every read selects, in FromRow's order.
std::string SelectColumns() {
  return absl::StrCat(
      "kind, organisation_id, local_id, patient_local_id, ",
      pg::MicrosOf("clinical_time"), ", coalesce(counterpart_organisation, ''), "
      "entered_in_error, array_to_string(codes, ' '), body, version, ",
      pg::MicrosOf("recorded_at"));
}

StoredRecord FromRow(const pqxx::row& f) {
  StoredRecord s;
  s.row.kind = static_cast<Kind>(f[0].as<int>());
  s.row.organisation_id = f[1].as<std::string>();
  s.row.local_id = f[2].as<std::string>();
  s.row.patient_local_id = f[3].as<std::string>();
  s.row.clinical_time = absl::FromUnixMicros(f[4].as<int64_t>());
  s.row.counterpart_organisation = f[5].as<std::string>();
  s.row.entered_in_error = f[6].as<bool>();
  const std::string codes = f[7].as<std::string>();
  if (!codes.empty()) s.row.codes = absl::StrSplit(codes, ' ');
  s.row.body = pg::ReadBytea(f[8]);
  s.version = f[9].as<int64_t>();
  s.recorded_at = absl::FromUnixMicros(f[10].as<int64_t>());
  return s;
}

std::optional<std::string> Counterpart(const RecordRow& r) {
  if (r.counterpart_organisation.empty()) return std::nullopt;
  return r.counterpart_organisation;
}

std::string KindArray(const std::vector<Kind>& kinds) {
  return absl::StrCat(
      "{", absl::StrJoin(kinds, ",", [](std::string* out, Kind k) {
        absl::StrAppend(out, static_cast<int>(k));
      }), "}");
}

}  // namespace

std::vector<pg::MigrationSet> AllMigrations() {
  return {outbox::MigrationSet(), xref::MigrationSet(), {"records", &Migrations()}};
}

void CopyFirstVersions(pqxx::work& tx, const std::string& table,
                       const std::vector<const RecordRow*>& rows) {
  pg::CopyWriter copy(tx, table,
                      {"kind", "organisation_id", "local_id", "patient_local_id",
                       "clinical_time", "counterpart_organisation", "entered_in_error",
                       "codes", "body", "version"});
  for (const RecordRow* r : rows) {
    copy.Row(static_cast<int>(r->kind), r->organisation_id, r->local_id,
             r->patient_local_id, pg::TimestampLiteral(r->clinical_time), Counterpart(*r),
             r->entered_in_error, pg::TextArray(r->codes), pg::Bytea{r->body}, 1);
  }
  copy.Complete();
}

absl::StatusOr<std::vector<WriteResult>> PgRecordStore::Write(
    const std::vector<WriteRequest>& requests, const EventFor& event_for) {
  if (requests.empty()) return std::vector<WriteResult>{};
  std::set<std::tuple<int, std::string, std::string>> keys;
  std::vector<std::string> kinds, orgs, locals;
  for (const WriteRequest& r : requests) {
    if (!keys.emplace(static_cast<int>(r.row.kind), r.row.organisation_id, r.row.local_id)
             .second) {
      return absl::InvalidArgumentError("records written together must have distinct keys");
    }
    kinds.push_back(std::to_string(static_cast<int>(r.row.kind)));
    orgs.push_back(r.row.organisation_id);
    locals.push_back(r.row.local_id);
  }
  const std::string kind_array = pg::TextArray(kinds), org_array = pg::TextArray(orgs),
                    local_array = pg::TextArray(locals);
  absl::StatusOr<std::vector<WriteResult>> written =
      pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<WriteResult>> {
    // Lock the records that exist; see which change.
    std::vector<WriteResult> results(requests.size(), WriteResult{v1::CREATED, 1});
    std::vector<int64_t> current(requests.size(), 0);
    std::vector<const RecordRow*> updated;
    pg::PreferIndexLookups(tx);
    pqxx::result existing = pg::ExecPrepared(
        tx, "records_lock_existing",
        "SELECT p.ord, r.version, r.body"
        " FROM unnest($1::smallint[], $2::text[], $3::text[]) WITH ORDINALITY"
        "   AS p(kind, org, local_id, ord)"
        " JOIN record r ON r.organisation_id = p.org AND r.kind = p.kind"
        "   AND r.local_id = p.local_id"
        " FOR UPDATE OF r",
        kind_array, org_array, local_array);
    std::vector<bool> exists(requests.size(), false);
    for (const auto& row : existing) {
      const size_t i = row[0].as<size_t>() - 1;
      exists[i] = true;
      current[i] = row[1].as<int64_t>();
      if (pg::ReadBytea(row[2]) == requests[i].row.body) {
        results[i] = {v1::UNCHANGED, current[i]};
      } else {
        results[i] = {v1::UPDATED, current[i] + 1};
        updated.push_back(&requests[i].row);
      }
    }
    std::vector<const RecordRow*> fresh;
    for (size_t i = 0; i < requests.size(); ++i) {
      if (requests[i].if_version.has_value() && *requests[i].if_version != current[i]) {
        return absl::AbortedError("the record changed since it was read");
      }
      if (!exists[i]) fresh.push_back(&requests[i].row);
    }
    // Changed records: the current version moves to the history.
    for (const RecordRow* r : updated) {
      pg::ExecPrepared(
          tx, "records_supersede",
          "INSERT INTO record_history (kind, organisation_id, local_id, patient_local_id,"
          " clinical_time, counterpart_organisation, entered_in_error, codes, body,"
          " version, recorded_at)"
          " SELECT kind, organisation_id, local_id, patient_local_id, clinical_time,"
          " counterpart_organisation, entered_in_error, codes, body, version, recorded_at"
          " FROM record WHERE organisation_id = $1 AND kind = $2 AND local_id = $3",
          r->organisation_id, static_cast<int>(r->kind), r->local_id);
      pg::ExecPrepared(
          tx, "records_update",
          "UPDATE record SET patient_local_id = $4, clinical_time = $5::timestamptz,"
          " counterpart_organisation = $6, entered_in_error = $7, codes = $8::text[],"
          " body = $9, version = version + 1, recorded_at = now()"
          " WHERE organisation_id = $1 AND kind = $2 AND local_id = $3",
          r->organisation_id, static_cast<int>(r->kind), r->local_id, r->patient_local_id,
          pg::TimestampLiteral(r->clinical_time), Counterpart(*r), r->entered_in_error,
          pg::TextArray(r->codes), pqxx::binarystring(r->body));
    }
    // New records: straight in with COPY. A writer that created one of them
    // meanwhile makes this fail with a unique violation (ABORTED below).
    if (!fresh.empty()) CopyFirstVersions(tx, "record", fresh);
    if (event_for) {
      std::vector<outbox::PendingEvent> events;
      events.reserve(fresh.size() + updated.size());
      for (size_t i = 0; i < requests.size(); ++i) {
        if (results[i].outcome == v1::UNCHANGED) continue;
        MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, event_for(requests[i], results[i]));
        events.push_back(std::move(e));
      }
      MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, events));
    }
    return results;
  });
  if (absl::IsAlreadyExists(written.status())) {
    return absl::AbortedError("a record was created concurrently");
  }
  return written;
}

absl::StatusOr<std::optional<StoredRecord>> PgRecordStore::Get(const RecordKey& key) {
  return pool_->Transact([&](pqxx::work& tx) {
    pqxx::result r = pg::ExecPrepared(
        tx, "records_get",
        absl::StrCat("SELECT ", SelectColumns(),
                     " FROM record WHERE organisation_id = $1 AND kind = $2 AND local_id = $3"),
        key.organisation_id, static_cast<int>(key.kind), key.local_id);
    return r.empty() ? std::optional<StoredRecord>() : FromRow(r[0]);
  });
}

absl::StatusOr<std::vector<StoredRecord>> PgRecordStore::History(const RecordKey& key) {
  return pool_->Transact([&](pqxx::work& tx) {
    const std::string where =
        " WHERE organisation_id = $1 AND kind = $2 AND local_id = $3";
    pqxx::result r = pg::ExecPrepared(
        tx, "records_history",
        absl::StrCat("SELECT ", SelectColumns(), " FROM record_history",
                     where, " UNION ALL SELECT ", SelectColumns(), " FROM record",
                     where, " ORDER BY 10"),
        key.organisation_id, static_cast<int>(key.kind), key.local_id);
    std::vector<StoredRecord> out;
    for (const auto& row : r) out.push_back(FromRow(row));
    return out;
  });
}

absl::StatusOr<std::vector<StoredRecord>> PgRecordStore::Query(const RecordQuery& q,
                                                               const AuditFor& audit_for) {
  std::vector<std::string> orgs, patients;
  for (const xref::LocalId& p : q.patients) {
    orgs.push_back(p.organisation_id);
    patients.push_back(p.local_id);
  }
  const bool has_cursor = q.after.has_value();
  const Cursor cursor = has_cursor ? *q.after : Cursor{};
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<StoredRecord>> {
    pg::PreferIndexLookups(tx);
    pqxx::result r = pg::ExecPrepared(
        tx, "records_query",
        absl::StrCat(
            "SELECT ", SelectColumns(), " FROM record r"
            " JOIN unnest($1::text[], $2::text[]) AS p(org, pid)"
            " ON r.organisation_id = p.org AND r.patient_local_id = p.pid"
            " WHERE NOT r.entered_in_error"
            " AND r.clinical_time >= $3::timestamptz AND r.clinical_time < $4::timestamptz"
            " AND (((r.organisation_id = $5 OR r.counterpart_organisation = $5)"
            "       AND r.kind = ANY($6::smallint[])) OR r.kind = ANY($7::smallint[]))"
            " AND (NOT $8::boolean OR (r.clinical_time, r.organisation_id, r.kind, r.local_id)"
            "      < ($9::timestamptz, $10::text, $11::smallint, $12::text))"
            " ORDER BY r.clinical_time DESC, r.organisation_id DESC, r.kind DESC,"
            " r.local_id DESC LIMIT $13"),
        pg::TextArray(orgs), pg::TextArray(patients), pg::TimestampLiteral(q.from),
        pg::TimestampLiteral(q.to), q.caller_organisation, KindArray(q.own_kinds),
        KindArray(q.shared_kinds), has_cursor, pg::TimestampLiteral(cursor.clinical_time),
        cursor.organisation_id, static_cast<int>(cursor.kind), cursor.local_id, q.limit);
    std::vector<StoredRecord> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(FromRow(row));
    if (audit_for) {
      MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, audit_for(out));
      MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, {e}));
    }
    return out;
  });
}

}  // namespace meridian::records
