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

constexpr char kKeyJoin[] =
    "r.organisation_id = s.organisation_id AND r.kind = s.kind AND r.local_id = s.local_id";

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
  s.row.body = pqxx::binarystring(f[8]).str();
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

void CreateStaging(pqxx::work& tx) {
  // A temporary table lives as long as the pooled connection; rows only as
  // long as the transaction.
  tx.exec(
      "SET LOCAL client_min_messages = warning;"
      "CREATE TEMP TABLE IF NOT EXISTS record_staging ("
      " ord int NOT NULL, kind smallint NOT NULL, organisation_id text NOT NULL,"
      " local_id text NOT NULL, patient_local_id text NOT NULL,"
      " clinical_time timestamptz NOT NULL, counterpart_organisation text,"
      " entered_in_error boolean NOT NULL, codes text[] NOT NULL, body bytea NOT NULL"
      ") ON COMMIT DELETE ROWS");
}

}  // namespace

std::vector<pg::MigrationSet> AllMigrations() {
  return {outbox::MigrationSet(), xref::MigrationSet(), {"records", &Migrations()}};
}

void CopyFirstVersions(pqxx::work& tx, const std::string& table,
                       const std::vector<RecordRow>& rows) {
  pg::CopyWriter copy(tx, table,
                      {"kind", "organisation_id", "local_id", "patient_local_id",
                       "clinical_time", "counterpart_organisation", "entered_in_error",
                       "codes", "body", "version"});
  for (const RecordRow& r : rows) {
    copy.Row(static_cast<int>(r.kind), r.organisation_id, r.local_id, r.patient_local_id,
             pg::TimestampLiteral(r.clinical_time), Counterpart(r), r.entered_in_error,
             pg::TextArray(r.codes), pg::Bytea{r.body}, 1);
  }
  copy.Complete();
}

absl::StatusOr<std::vector<WriteResult>> PgRecordStore::Write(
    const std::vector<WriteRequest>& requests, const EventFor& event_for) {
  if (requests.empty()) return std::vector<WriteResult>{};
  std::set<std::tuple<int, std::string, std::string>> keys;
  for (const WriteRequest& r : requests) {
    if (!keys.emplace(static_cast<int>(r.row.kind), r.row.organisation_id, r.row.local_id)
             .second) {
      return absl::InvalidArgumentError("records written together must have distinct keys");
    }
  }
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<WriteResult>> {
    CreateStaging(tx);
    {
      pg::CopyWriter copy(tx, "record_staging",
                          {"ord", "kind", "organisation_id", "local_id", "patient_local_id",
                           "clinical_time", "counterpart_organisation", "entered_in_error",
                           "codes", "body"});
      for (size_t i = 0; i < requests.size(); ++i) {
        const RecordRow& r = requests[i].row;
        copy.Row(static_cast<int>(i), static_cast<int>(r.kind), r.organisation_id,
                 r.local_id, r.patient_local_id, pg::TimestampLiteral(r.clinical_time),
                 Counterpart(r), r.entered_in_error, pg::TextArray(r.codes),
                 pg::Bytea{r.body});
      }
      copy.Complete();
    }
    // Lock the records that exist and see which change.
    std::vector<WriteResult> results(requests.size(), WriteResult{v1::CREATED, 1});
    std::vector<int64_t> current(requests.size(), 0);
    int created = static_cast<int>(requests.size()), updated = 0;
    pqxx::result existing = tx.exec(absl::StrCat(
        "SELECT s.ord, r.version, r.body = s.body FROM record_staging s"
        " JOIN record r ON ", kKeyJoin, " FOR UPDATE OF r"));
    for (const auto& row : existing) {
      const size_t i = row[0].as<size_t>();
      current[i] = row[1].as<int64_t>();
      --created;
      if (row[2].as<bool>()) {
        results[i] = {v1::UNCHANGED, current[i]};
      } else {
        results[i] = {v1::UPDATED, current[i] + 1};
        ++updated;
      }
    }
    for (size_t i = 0; i < requests.size(); ++i) {
      if (requests[i].if_version.has_value() && *requests[i].if_version != current[i]) {
        return absl::AbortedError("the record changed since it was read");
      }
    }
    if (updated > 0) {
      tx.exec(absl::StrCat(
          "INSERT INTO record_history (kind, organisation_id, local_id, patient_local_id,"
          " clinical_time, counterpart_organisation, entered_in_error, codes, body,"
          " version, recorded_at)"
          " SELECT r.kind, r.organisation_id, r.local_id, r.patient_local_id,"
          " r.clinical_time, r.counterpart_organisation, r.entered_in_error, r.codes,"
          " r.body, r.version, r.recorded_at"
          " FROM record r JOIN record_staging s ON ", kKeyJoin, " WHERE r.body <> s.body"));
      tx.exec(absl::StrCat(
          "UPDATE record r SET patient_local_id = s.patient_local_id,"
          " clinical_time = s.clinical_time,"
          " counterpart_organisation = s.counterpart_organisation,"
          " entered_in_error = s.entered_in_error, codes = s.codes, body = s.body,"
          " version = r.version + 1, recorded_at = now()"
          " FROM record_staging s WHERE ", kKeyJoin, " AND r.body <> s.body"));
    }
    if (created > 0) {
      pqxx::result inserted = tx.exec(absl::StrCat(
          "INSERT INTO record (kind, organisation_id, local_id, patient_local_id,"
          " clinical_time, counterpart_organisation, entered_in_error, codes, body, version)"
          " SELECT s.kind, s.organisation_id, s.local_id, s.patient_local_id,"
          " s.clinical_time, s.counterpart_organisation, s.entered_in_error, s.codes,"
          " s.body, 1 FROM record_staging s"
          " WHERE NOT EXISTS (SELECT 1 FROM record r WHERE ", kKeyJoin, ")"
          " ON CONFLICT DO NOTHING"));
      if (inserted.affected_rows() != static_cast<size_t>(created)) {
        // Another writer created one of these records since we looked.
        return absl::AbortedError("a record was created concurrently");
      }
    }
    if (event_for) {
      std::vector<outbox::PendingEvent> events;
      events.reserve(created + updated);
      for (size_t i = 0; i < requests.size(); ++i) {
        if (results[i].outcome == v1::UNCHANGED) continue;
        MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, event_for(requests[i], results[i]));
        events.push_back(std::move(e));
      }
      MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, events));
    }
    return results;
  });
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
