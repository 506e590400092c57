#include "services/patient-index/pg_patient_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/ids/uuid.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/sql.h"

namespace meridian::patient {
namespace {

// Candidates carry what matching needs (IDs, regional ID, match fields),
// not the stored request and response: a lookup reads up to 300 rows.
constexpr char kMatchColumns[] =
    "id, organisation_id, local_id, regional_id::text, family, given,"
    " family_pinyin, given_pinyin, sex, birth_date, phone, street_number,"
    " address, locality, postcode, region, resident_id, other_id";

StoredRecord FromMatchRow(const pqxx::row& row) {
  StoredRecord r;
  r.id = row[0].as<int64_t>();
  r.organisation_id = row[1].as<std::string>();
  r.local_id = row[2].as<std::string>();
  r.regional_id = row[3].as<std::string>();
  MatchRecord& m = r.match;
  m.id = r.id;
  std::string* fields[] = {&m.family, &m.given, &m.family_pinyin, &m.given_pinyin,
                           &m.sex, &m.birth_date, &m.phone, &m.street_number,
                           &m.address, &m.locality, &m.postcode, &m.region,
                           &m.resident_id, &m.other_id};
  for (int i = 0; i < 14; ++i) *fields[i] = row[i + 4].as<std::string>();
  return r;
}

// The whole record: the match columns, then what was registered and answered.
const std::string& Columns() {
  static const auto* const kColumns = new std::string(
      absl::StrCat(kMatchColumns, ", request, response, request_hash"));
  return *kColumns;
}

StoredRecord FromRow(const pqxx::row& row) {
  StoredRecord r = FromMatchRow(row);
  r.request.ParseFromString(pg::ReadBytea(row[18]));
  r.response.ParseFromString(pg::ReadBytea(row[19]));
  r.request_hash = row[20].as<std::string>();
  return r;
}

std::optional<StoredRecord> FindIn(pqxx::transaction_base& tx, const std::string& org,
                                   const std::string& local, bool for_update) {
  static const auto* const kSql = new std::string(absl::StrCat(
      "SELECT ", Columns(),
      " FROM source_record WHERE organisation_id = $1 AND local_id = $2"));
  static const auto* const kSqlForUpdate = new std::string(*kSql + " FOR UPDATE");
  pqxx::result r =
      for_update ? pg::ExecPrepared(tx, "pi_find_source_locked", *kSqlForUpdate, org, local)
                 : pg::ExecPrepared(tx, "pi_find_source", *kSql, org, local);
  if (r.empty()) return std::nullopt;
  return FromRow(r[0]);
}

std::vector<StoredRecord> CandidatesIn(pqxx::transaction_base& tx, const MatchRecord& m,
                                       int per_key, int total) {
  std::vector<std::string> keys = BlockingKeys(m);
  if (keys.empty()) return {};
  static const auto* const kSql = new std::string(absl::StrCat(
      "SELECT ", kMatchColumns, " FROM source_record WHERE id IN ("
      " SELECT DISTINCT c.record_id FROM unnest($1::text[]) AS k(key)"
      " CROSS JOIN LATERAL (SELECT record_id FROM blocking_key b"
      "   WHERE b.key = k.key ORDER BY record_id DESC LIMIT $2) c"
      " LIMIT $3)"));
  pqxx::result rows = pg::ExecPrepared(tx, "pi_candidates", *kSql,
                                       pg::TextArray(keys), per_key, total);
  std::vector<StoredRecord> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(FromMatchRow(row));
  return out;
}

absl::StatusOr<StoredRecord> ById(pqxx::transaction_base& tx, int64_t id, bool for_update) {
  pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT ", Columns(), " FROM source_record WHERE id = $1",
                   for_update ? " FOR UPDATE" : ""),
      id);
  if (r.empty()) return absl::NotFoundError("no such record");
  return FromRow(r[0]);
}

ReviewTaskRow TaskFromRow(const pqxx::row& row) {
  return ReviewTaskRow{row[0].as<std::string>(), row[1].as<int64_t>(),
                       row[2].as<int64_t>(), row[3].as<double>(),
                       row[4].as<int64_t>()};
}

constexpr char kTaskColumns[] =
    "id::text, record_id, candidate_record_id, probability,"
    " extract(epoch FROM created_at)::bigint";

class PgUnit : public PatientUnit {
 public:
  explicit PgUnit(pqxx::work& tx) : tx_(tx) {}

  absl::StatusOr<std::optional<StoredRecord>> FindSource(
      const std::string& org, const std::string& local) override {
    return FindIn(tx_, org, local, /*for_update=*/true);
  }
  absl::Status LockKeys(const std::vector<std::string>& keys) override {
    pg::ExecPrepared(tx_, "pi_lock_keys",
                     "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT"
                     " hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k"
                     " ORDER BY 1) AS s",
                     pg::TextArray(keys));
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<StoredRecord>> Candidates(const MatchRecord& r,
                                                       int per_key,
                                                       int total) override {
    return CandidatesIn(tx_, r, per_key, total);
  }
  absl::Status SaveSource(StoredRecord& rec) override {
    const MatchRecord& m = rec.match;
    std::string request = rec.request.SerializeAsString();
    std::string response = rec.response.SerializeAsString();
    if (rec.id == 0) {
      rec.id = pg::ExecPrepared(
          tx_, "pi_insert_source",
          "INSERT INTO source_record (organisation_id, local_id, regional_id,"
          " request, response, request_hash, family, given, family_pinyin,"
          " given_pinyin, sex, birth_date, phone, street_number, address,"
          " locality, postcode, region, resident_id, other_id) VALUES"
          " ($1, $2, $3::uuid, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
          " $15, $16, $17, $18, $19, $20) RETURNING id",
          rec.organisation_id, rec.local_id, rec.regional_id,
          pqxx::binarystring(request), pqxx::binarystring(response),
          rec.request_hash, m.family, m.given, m.family_pinyin, m.given_pinyin,
          m.sex, m.birth_date, m.phone, m.street_number, m.address, m.locality,
          m.postcode, m.region, m.resident_id, m.other_id)[0][0].as<int64_t>();
    } else {
      pg::ExecPrepared(
          tx_, "pi_update_source",
          "UPDATE source_record SET regional_id = $2::uuid, request = $3,"
          " response = $4, request_hash = $5, family = $6, given = $7,"
          " family_pinyin = $8, given_pinyin = $9, sex = $10, birth_date = $11,"
          " phone = $12, street_number = $13, address = $14, locality = $15,"
          " postcode = $16, region = $17, resident_id = $18, other_id = $19,"
          " updated_at = now() WHERE id = $1",
          rec.id, rec.regional_id, pqxx::binarystring(request),
          pqxx::binarystring(response), rec.request_hash, m.family, m.given,
          m.family_pinyin, m.given_pinyin, m.sex, m.birth_date, m.phone,
          m.street_number, m.address, m.locality, m.postcode, m.region,
          m.resident_id, m.other_id);
      pg::ExecPrepared(tx_, "pi_delete_keys",
                       "DELETE FROM blocking_key WHERE record_id = $1", rec.id);
    }
    rec.match.id = rec.id;
    pg::ExecPrepared(
        tx_, "pi_insert_keys",
        "INSERT INTO blocking_key (key, record_id)"
        " SELECT DISTINCT unnest($1::text[]), $2::bigint ON CONFLICT DO NOTHING",
        pg::TextArray(BlockingKeys(m)), rec.id);
    return absl::OkStatus();
  }
  absl::Status CreateIdentity(const std::string& regional_id) override {
    pg::ExecPrepared(tx_, "pi_insert_identity",
                     "INSERT INTO identity (regional_id) VALUES ($1::uuid)",
                     regional_id);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> CreateReviewTask(int64_t record_id,
                                               int64_t candidate_id,
                                               double probability) override {
    std::string id = ids::NewUuid();
    pqxx::result r = tx_.exec_params(
        "INSERT INTO review_task (id, record_id, candidate_record_id, probability)"
        " VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (record_id, candidate_record_id)"
        " WHERE status = 'open' DO NOTHING RETURNING id",
        id, record_id, candidate_id, probability);
    if (r.empty()) {
      return absl::AlreadyExistsError("review task already open for this pair");
    }
    return id;
  }
  absl::Status KeepApart(int64_t a, int64_t b) override {
    tx_.exec_params(
        "INSERT INTO kept_apart (record_a, record_b) VALUES (least($1::bigint,"
        " $2::bigint), greatest($1::bigint, $2::bigint)) ON CONFLICT DO NOTHING",
        a, b);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<int64_t>> KeptApartFrom(int64_t id) override {
    std::vector<int64_t> out;
    for (const auto& row : tx_.exec_params(
             "SELECT record_b FROM kept_apart WHERE record_a = $1 UNION ALL"
             " SELECT record_a FROM kept_apart WHERE record_b = $1",
             id)) {
      out.push_back(row[0].as<int64_t>());
    }
    return out;
  }
  absl::StatusOr<ReviewTaskRow> TakeOpenReviewTask(const std::string& id) override {
    pqxx::result r = tx_.exec_params(
        absl::StrCat("SELECT ", kTaskColumns, " FROM review_task WHERE id = $1::uuid"
                     " AND status = 'open' FOR UPDATE"),
        id);
    if (r.empty()) return absl::NotFoundError("review_task_id: no open review task");
    return TaskFromRow(r[0]);
  }
  absl::StatusOr<StoredRecord> RecordById(int64_t id) override {
    return ById(tx_, id, /*for_update=*/true);
  }
  absl::Status SupersedeReviewTasks(int64_t record_id) override {
    pg::ExecPrepared(tx_, "pi_supersede_reviews",
                     "UPDATE review_task SET status = 'superseded', resolved_at = now()"
                     " WHERE record_id = $1 AND status = 'open'",
                     record_id);
    return absl::OkStatus();
  }
  absl::Status CloseReviewTask(const std::string& id, const std::string& resolution,
                               const std::string& resolved_by,
                               const std::string& reason) override {
    tx_.exec_params(
        "UPDATE review_task SET status = $2, resolved_by = $3, reason = $4,"
        " resolved_at = now() WHERE id = $1::uuid",
        id, resolution, resolved_by, reason);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<StoredRecord>> LockRecordsOf(
      const std::string& regional_id) override {
    std::vector<StoredRecord> out;
    for (const auto& row : tx_.exec_params(
             absl::StrCat("SELECT ", Columns(), " FROM source_record WHERE"
                          " regional_id = $1::uuid ORDER BY id FOR UPDATE"),
             regional_id)) {
      out.push_back(FromRow(row));
    }
    return out;
  }
  absl::StatusOr<std::string> LockIdentity(const std::string& regional_id) override {
    pqxx::result r = tx_.exec_params(
        "SELECT coalesce(merged_into::text, '') FROM identity"
        " WHERE regional_id = $1::uuid FOR UPDATE",
        regional_id);
    if (r.empty()) return absl::NotFoundError("no such identity");
    return r[0][0].as<std::string>();
  }
  absl::Status SetMergedInto(const std::string& regional_id,
                             const std::string& into) override {
    tx_.exec_params(
        "UPDATE identity SET merged_into = nullif($2, '')::uuid"
        " WHERE regional_id = $1::uuid",
        regional_id, into);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> RecordMerge(const MergeRow& merge, const std::string& by,
                                          const std::string& reason) override {
    std::string id = ids::NewUuid();
    std::vector<std::string> record_ids;
    for (int64_t r : merge.record_ids) record_ids.push_back(std::to_string(r));
    tx_.exec_params(
        "INSERT INTO merge_history (id, from_regional_id, into_regional_id,"
        " record_ids, merged_by, reason) VALUES ($1::uuid, $2::uuid, $3::uuid,"
        " $4::text[]::bigint[], $5, $6)",
        id, merge.from_regional_id, merge.into_regional_id,
        pg::TextArray(record_ids), by, reason);
    return id;
  }
  absl::StatusOr<MergeRow> TakeMerge(const std::string& merge_id) override {
    pqxx::result r = tx_.exec_params(
        "SELECT id::text, from_regional_id::text, into_regional_id::text,"
        " array_to_string(record_ids, ',') FROM merge_history"
        " WHERE id = $1::uuid AND unmerged_at IS NULL FOR UPDATE",
        merge_id);
    if (r.empty()) return absl::NotFoundError("merge_id: no merge to undo");
    MergeRow row{r[0][0].as<std::string>(), r[0][1].as<std::string>(),
                 r[0][2].as<std::string>(), {}};
    for (absl::string_view part : absl::StrSplit(r[0][3].as<std::string>(), ',',
                                                 absl::SkipEmpty())) {
      int64_t v;
      if (absl::SimpleAtoi(part, &v)) row.record_ids.push_back(v);
    }
    return row;
  }
  absl::Status MarkUnmerged(const std::string& merge_id, const std::string& by,
                            const std::string& reason) override {
    tx_.exec_params(
        "UPDATE merge_history SET unmerged_by = $2, unmerge_reason = $3,"
        " unmerged_at = now() WHERE id = $1::uuid",
        merge_id, by, reason);
    return absl::OkStatus();
  }
  absl::Status Emit(const outbox::EventHeader& header,
                    const google::protobuf::Message& payload) override {
    return outbox::Append(tx_, header, payload).status();
  }

 private:
  pqxx::work& tx_;
};

}  // namespace

std::vector<pg::MigrationSet> AllMigrations() {
  return {outbox::MigrationSet(), {"patient_index", &Migrations()}};
}

absl::Status PgPatientStore::Run(
    const std::function<absl::Status(PatientUnit&)>& fn) {
  return pool_->Transact([&](pqxx::work& tx) {
    PgUnit unit(tx);
    return fn(unit);
  });
}

absl::StatusOr<std::optional<StoredRecord>> PgPatientStore::FindSource(
    const std::string& org, const std::string& local) {
  return pool_->Read(
      [&](pqxx::nontransaction& tx) { return FindIn(tx, org, local, /*for_update=*/false); });
}

absl::StatusOr<std::vector<StoredRecord>> PgPatientStore::RecordsOf(
    const std::string& regional_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) {
    std::vector<StoredRecord> out;
    for (const auto& row : tx.exec_params(
             absl::StrCat("SELECT ", Columns(),
                          " FROM source_record WHERE regional_id = $1::uuid ORDER BY id"),
             regional_id)) {
      out.push_back(FromRow(row));
    }
    return out;
  });
}

absl::StatusOr<std::vector<ReviewTaskRow>> PgPatientStore::OpenReviewTasks(
    const std::string& after_id, int limit) {
  return pool_->Read([&](pqxx::nontransaction& tx) {
    std::vector<ReviewTaskRow> out;
    pqxx::result rows =
        after_id.empty()
            ? tx.exec_params(absl::StrCat("SELECT ", kTaskColumns,
                                          " FROM review_task WHERE status = 'open'"
                                          " ORDER BY seq LIMIT $1"),
                             limit)
            : tx.exec_params(
                  absl::StrCat("SELECT ", kTaskColumns,
                               " FROM review_task WHERE status = 'open' AND"
                               " seq > (SELECT seq FROM review_task"
                               " WHERE id = $2::uuid)"
                               " ORDER BY seq LIMIT $1"),
                  limit, after_id);
    for (const auto& row : rows) out.push_back(TaskFromRow(row));
    return out;
  });
}

absl::StatusOr<std::string> PgPatientStore::ResolveIdentity(
    const std::string& regional_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::string> {
    std::string id = regional_id;
    for (int hops = 0; hops < 100; ++hops) {
      pqxx::result r = tx.exec_params(
          "SELECT coalesce(merged_into::text, '') FROM identity"
          " WHERE regional_id = $1::uuid",
          id);
      if (r.empty()) return absl::NotFoundError("regional_id: no such patient");
      std::string next = r[0][0].as<std::string>();
      if (next.empty()) return id;
      id = next;
    }
    return absl::InternalError("merge chain too long");
  });
}

absl::StatusOr<std::vector<MatchRecord>> PgPatientStore::AllMatchRecords() {
  return pool_->Read([&](pqxx::nontransaction& tx) {
    std::vector<MatchRecord> out;
    for (const auto& row : tx.exec(absl::StrCat(
             "SELECT ", kMatchColumns, " FROM source_record ORDER BY id"))) {
      out.push_back(FromMatchRow(row).match);
    }
    return out;
  });
}

absl::Status PgPatientStore::SaveModel(const std::string& parameters, int records,
                                       int pairs) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO model_parameters (parameters, records, candidate_pairs)"
        " VALUES ($1, $2, $3)",
        parameters, records, pairs);
    return absl::OkStatus();
  });
}

absl::StatusOr<TermFrequencies> PgPatientStore::LoadTermFrequencies() {
  // Column names of the TF fields in source_record.
  static constexpr std::pair<Field, const char*> kColumnsOf[] = {
      {kFamily, "family"}, {kGiven, "given"}, {kLocality, "locality"},
      {kPostcode, "postcode"}};
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<TermFrequencies> {
    TermFrequencies tf;
    for (const auto& [field, column] : kColumnsOf) {
      if (!TermFrequencies::Adjusts(field)) continue;
      for (const auto& row : tx.exec(absl::StrCat(
               "SELECT ", column, ", count(*) FROM source_record WHERE ", column,
               " <> '' GROUP BY 1"))) {
        tf.AddCount(field, row[0].as<std::string>(), row[1].as<int64_t>());
      }
    }
    return tf;
  });
}

absl::StatusOr<std::string> PgPatientStore::LoadModel() {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::string> {
    pqxx::result r = tx.exec(
        "SELECT parameters FROM model_parameters ORDER BY id DESC LIMIT 1");
    if (r.empty()) return std::string();
    return r[0][0].as<std::string>();
  });
}

absl::StatusOr<StoredRecord> PgPatientStore::RecordById(int64_t id) {
  return pool_->Read(
      [&](pqxx::nontransaction& tx) { return ById(tx, id, /*for_update=*/false); });
}

absl::StatusOr<std::vector<StoredRecord>> PgPatientStore::Candidates(
    const MatchRecord& r, int per_key, int total) {
  return pool_->Read(
      [&](pqxx::nontransaction& tx) { return CandidatesIn(tx, r, per_key, total); });
}

}  // namespace meridian::patient
