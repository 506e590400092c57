#include "services/lab-results/pg_lab_store.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/sql.h"
#include "libs/status/status_macros.h"
#include "libs/xref/xref.h"

namespace meridian::labs {
namespace {

// The columns every read selects, in FromRow's order.
std::string SelectColumns() {
  return absl::StrCat("organisation_id, local_id, patient_organisation_id, patient_local_id, ",
                      pg::MicrosOf("collected_at"), ", loinc_codes, body, version, ",
                      pg::MicrosOf("recorded_at"));
}

// The elements of a one-dimensional text[] without NULLs.
std::vector<std::string> TextsOf(const pqxx::field& f) {
  std::vector<std::string> out;
  pqxx::array_parser parser = f.as_array();
  while (true) {
    auto [juncture, value] = parser.get_next();
    if (juncture == pqxx::array_parser::done) return out;
    if (juncture == pqxx::array_parser::string_value) out.push_back(std::move(value));
  }
}

StoredReport FromRow(const pqxx::row& f) {
  StoredReport s;
  s.row.organisation_id = f[0].as<std::string>();
  s.row.local_id = f[1].as<std::string>();
  s.row.patient_organisation_id = f[2].as<std::string>();
  s.row.patient_local_id = f[3].as<std::string>();
  s.row.collected_at = absl::FromUnixMicros(f[4].as<int64_t>());
  s.row.loinc_codes = TextsOf(f[5]);
  s.row.body = pg::ReadBytea(f[6]);
  s.version = f[7].as<int64_t>();
  s.recorded_at = absl::FromUnixMicros(f[8].as<int64_t>());
  return s;
}

}  // namespace

std::vector<pg::MigrationSet> AllMigrations() {
  return {outbox::MigrationSet(), xref::MigrationSet(), {"lab_results", &Migrations()}};
}

absl::StatusOr<WriteResult> PgLabStore::Write(const ReportRow& row,
                                              const EventsFor& events_for) {
  // An infinite time would be stored but could not be read back as micros.
  if (row.collected_at == absl::InfinitePast() || row.collected_at == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("collected_at: must be finite");
  }
  const std::string collected_at = pg::TimestampLiteral(row.collected_at);
  const std::string codes = pg::TextArray(row.loinc_codes);
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<WriteResult> {
    // The lock is held until the commit: a concurrent writer of this report
    // waits here and then compares against what this one wrote.
    pqxx::result current = pg::ExecPrepared(
        tx, "labs_lock",
        "SELECT version, body = $3 AND patient_organisation_id = $4"
        " AND patient_local_id = $5 AND collected_at = $6::timestamptz"
        " AND loinc_codes = $7::text[]"
        " FROM lab_report WHERE organisation_id = $1 AND local_id = $2 FOR UPDATE",
        row.organisation_id, row.local_id, pqxx::binarystring(row.body),
        row.patient_organisation_id, row.patient_local_id, collected_at, codes);
    WriteResult result;
    if (current.empty()) {
      pqxx::result inserted = pg::ExecPrepared(
          tx, "labs_insert",
          "INSERT INTO lab_report (organisation_id, local_id, patient_organisation_id,"
          " patient_local_id, collected_at, loinc_codes, body, version)"
          " VALUES ($1, $2, $3, $4, $5::timestamptz, $6::text[], $7, 1)"
          " ON CONFLICT (organisation_id, local_id) DO NOTHING",
          row.organisation_id, row.local_id, row.patient_organisation_id,
          row.patient_local_id, collected_at, codes, pqxx::binarystring(row.body));
      // A writer created it meanwhile (the insert waited for its commit).
      // Transact retries ABORTED, and the retry finds the row to update.
      if (inserted.affected_rows() == 0) {
        return absl::AbortedError("the report was created concurrently");
      }
      result = {WriteOutcome::kCreated, 1};
    } else if (current[0][1].as<bool>()) {
      return WriteResult{WriteOutcome::kUnchanged, current[0][0].as<int64_t>()};
    } else {
      // The current version moves to the history.
      pg::ExecPrepared(
          tx, "labs_supersede",
          "INSERT INTO lab_report_history (organisation_id, local_id,"
          " patient_organisation_id, patient_local_id, collected_at, loinc_codes, body,"
          " version, recorded_at)"
          " SELECT organisation_id, local_id, patient_organisation_id, patient_local_id,"
          " collected_at, loinc_codes, body, version, recorded_at"
          " FROM lab_report WHERE organisation_id = $1 AND local_id = $2",
          row.organisation_id, row.local_id);
      pg::ExecPrepared(
          tx, "labs_update",
          "UPDATE lab_report SET patient_organisation_id = $3, patient_local_id = $4,"
          " collected_at = $5::timestamptz, loinc_codes = $6::text[], body = $7,"
          " version = version + 1, recorded_at = now()"
          " WHERE organisation_id = $1 AND local_id = $2",
          row.organisation_id, row.local_id, row.patient_organisation_id,
          row.patient_local_id, collected_at, codes, pqxx::binarystring(row.body));
      result = {WriteOutcome::kUpdated, current[0][0].as<int64_t>() + 1};
    }
    if (events_for) {
      MERIDIAN_ASSIGN_OR_RETURN(std::vector<outbox::PendingEvent> events, events_for(result));
      MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, events));
    }
    return result;
  });
}

absl::StatusOr<std::optional<StoredReport>> PgLabStore::Get(const std::string& organisation_id,
                                                            const std::string& local_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) {
    pqxx::result r = pg::ExecPrepared(
        tx, "labs_get",
        absl::StrCat("SELECT ", SelectColumns(),
                     " FROM lab_report WHERE organisation_id = $1 AND local_id = $2"),
        organisation_id, local_id);
    return r.empty() ? std::optional<StoredReport>() : FromRow(r[0]);
  });
}

absl::StatusOr<std::vector<StoredReport>> PgLabStore::History(
    const std::string& organisation_id, const std::string& local_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) {
    const std::string where = " WHERE organisation_id = $1 AND local_id = $2";
    pqxx::result r = pg::ExecPrepared(
        tx, "labs_history",
        absl::StrCat("SELECT ", SelectColumns(), " FROM lab_report_history", where,
                     " UNION ALL SELECT ", SelectColumns(), " FROM lab_report", where,
                     " ORDER BY version"),
        organisation_id, local_id);
    std::vector<StoredReport> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(FromRow(row));
    return out;
  });
}

absl::StatusOr<std::vector<StoredReport>> PgLabStore::Query(const ReportQuery& q,
                                                            const ReadEventsFor& events_for) {
  if (q.limit < 0) return absl::InvalidArgumentError("limit: must not be negative");
  // Distinct: a patient named twice would join their reports twice.
  const std::set<xref::LocalId> distinct(q.patients.begin(), q.patients.end());
  std::vector<std::string> orgs, patients;
  for (const xref::LocalId& p : distinct) {
    orgs.push_back(p.organisation_id);
    patients.push_back(p.local_id);
  }
  const bool has_cursor = q.after.has_value();
  // Without a cursor its parameters are ignored, but must still be a valid
  // timestamptz.
  const Cursor cursor = has_cursor ? *q.after : Cursor{absl::UnixEpoch(), "", ""};
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<StoredReport>> {
    pg::PreferIndexLookups(tx);
    pqxx::result r = pg::ExecPrepared(
        tx, "labs_query",
        absl::StrCat(
            "SELECT ", SelectColumns(), " FROM lab_report r"
            " JOIN unnest($1::text[], $2::text[]) AS p(org, pid)"
            " ON r.patient_organisation_id = p.org AND r.patient_local_id = p.pid"
            " WHERE ($3::boolean OR r.organisation_id = $4 OR r.patient_organisation_id = $4)"
            " AND (cardinality($5::text[]) = 0 OR r.loinc_codes && $5::text[])"
            " AND (cardinality($6::text[]) = 0 OR r.organisation_id = ANY($6::text[]))"
            " AND r.collected_at >= $7::timestamptz AND r.collected_at < $8::timestamptz"
            " AND (NOT $9::boolean OR (r.collected_at, r.organisation_id, r.local_id)"
            "      < ($10::timestamptz, $11::text, $12::text))"
            " ORDER BY r.collected_at DESC, r.organisation_id DESC, r.local_id DESC"
            " LIMIT $13"),
        pg::TextArray(orgs), pg::TextArray(patients), q.include_other_institutions,
        q.caller_organisation, pg::TextArray(q.loinc_codes), pg::TextArray(q.performed_by),
        pg::TimestampLiteral(q.from), pg::TimestampLiteral(q.to), has_cursor,
        pg::TimestampLiteral(cursor.collected_at), cursor.organisation_id, cursor.local_id,
        q.limit);
    std::vector<StoredReport> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(FromRow(row));
    if (events_for) {
      MERIDIAN_ASSIGN_OR_RETURN(std::vector<outbox::PendingEvent> events, events_for(out));
      MERIDIAN_RETURN_IF_ERROR(outbox::AppendAll(tx, events));
    }
    return out;
  });
}

}  // namespace meridian::labs
