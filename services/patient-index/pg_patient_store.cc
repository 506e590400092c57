#include "services/patient-index/pg_patient_store.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "libs/ids/uuid.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/sql.h"
#include "libs/status/status_macros.h"

namespace meridian::patient {
namespace {

// Candidates carry what matching needs (IDs, regional ID, match fields),
// not the stored request and response: a lookup reads up to 300 rows.
constexpr char kMatchColumns[] =
    "id, organisation_id, local_id, regional_id::text, family, given,"
    " family_pinyin, given_pinyin, sex, birth_date, phone, street_number,"
    " address, locality, postcode, region, resident_id, other_id";

// A row of a libpqxx result (text format) or of a pg::BinaryResult, read
// the same way by the functions below.
struct TextRow {
  pqxx::row row;
  bool IsNull(int c) const { return row[c].is_null(); }
  int64_t Int64(int c) const { return row[c].as<int64_t>(); }
  int32_t Int32(int c) const { return row[c].as<int32_t>(); }
  std::string Text(int c) const { return row[c].as<std::string>(); }
  std::string Bytea(int c) const { return pg::ReadBytea(row[c]); }
};

struct BinaryRow {
  const pg::BinaryResult& result;
  int row;
  bool IsNull(int c) const { return result.IsNull(row, c); }
  int64_t Int64(int c) const { return result.Int64(row, c); }
  int32_t Int32(int c) const { return result.Int32(row, c); }
  std::string Text(int c) const { return std::string(result.Bytes(row, c)); }
  std::string Bytea(int c) const { return std::string(result.Bytes(row, c)); }
};

// A record's IDs and match fields, in kMatchColumns' order.
template <typename Row>
StoredRecord FromMatchColumns(const Row& row) {
  StoredRecord r;
  r.id = row.Int64(0);
  r.organisation_id = row.Text(1);
  r.local_id = row.Text(2);
  r.regional_id = row.Text(3);
  r.match.id = r.id;
  MatchRecord& m = r.match;
  std::string* fields[] = {&m.family, &m.given, &m.family_pinyin, &m.given_pinyin,
                           &m.sex, &m.birth_date, &m.phone, &m.street_number,
                           &m.address, &m.locality, &m.postcode, &m.region,
                           &m.resident_id, &m.other_id};
  for (int i = 0; i < 14; ++i) *fields[i] = row.Text(4 + i);
  return r;
}

StoredRecord FromMatchRow(const pqxx::row& row) { return FromMatchColumns(TextRow{row}); }

// The whole record: the match columns, then what was registered and answered.
const std::string& Columns() {
  static const auto* const kColumns = new std::string(
      absl::StrCat(kMatchColumns, ", request, response, request_hash"));
  return *kColumns;
}

template <typename Row>
StoredRecord FromColumns(const Row& row) {
  StoredRecord r = FromMatchColumns(row);
  r.request.ParseFromString(row.Bytea(18));
  r.response.ParseFromString(row.Bytea(19));
  r.request_hash = row.Text(20);
  return r;
}

StoredRecord FromRow(const pqxx::row& row) { return FromColumns(TextRow{row}); }

std::optional<StoredRecord> FindIn(pqxx::transaction_base& tx, const std::string& org,
                                   const std::string& local) {
  static const auto* const kSql = new std::string(absl::StrCat(
      "SELECT ", Columns(),
      " FROM source_record WHERE organisation_id = $1 AND local_id = $2"));
  pqxx::result r = pg::ExecPrepared(tx, "pi_find_source", *kSql, org, local);
  if (r.empty()) return std::nullopt;
  return FromRow(r[0]);
}

// The match columns and the record's version, for the candidate cache:
// `SELECT <kMatchColumns>, version ...` read with VersionOf.
int32_t VersionOf(const pqxx::row& row) { return row[18].as<int32_t>(); }

}  // namespace

namespace internal {

bool SpareIds::Take(size_t n, std::deque<int64_t>& out) {
  absl::MutexLock lock(&mu_);
  if (ids_.size() < n) return false;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(ids_.front());
    ids_.pop_front();
  }
  return true;
}

void SpareIds::Give(std::deque<int64_t>& ids) {
  if (ids.empty()) return;
  absl::MutexLock lock(&mu_);
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  std::sort(ids_.begin(), ids_.end());  // two units may give back out of order
  ids.clear();
}

const std::string& CatchUpSql() {
  // Two index scans whatever the statistics: the pool plans statements once
  // for all values (generic plans), and for `change_xid >= $1 OR ...` the
  // planner guessed a third of the table and scanned the whole index (200
  // ms at 250,000 indexed records). A range with both ends a parameter is
  // guessed at 0.5%: an index range scan.
  static const auto* const kSql = new std::string(absl::StrCat(
      "SELECT r.*, s.snap::text, s.own::text FROM (SELECT pg_current_snapshot() AS"
      " snap, pg_current_xact_id_if_assigned() AS own) s"
      " LEFT JOIN LATERAL (SELECT ", kMatchColumns, ", version FROM source_record"
      "   WHERE change_xid >= $1::xid8 AND change_xid <= $3::xid8"
      "   AND change_xid IS DISTINCT FROM pg_current_xact_id_if_assigned()"
      " UNION ALL SELECT ", kMatchColumns, ", version FROM source_record"
      "   WHERE change_xid = ANY($2::xid8[]) AND change_xid < $1::xid8"
      "   AND change_xid IS DISTINCT FROM pg_current_xact_id_if_assigned()) r ON true"));
  return *kSql;
}

}  // namespace internal

namespace {

// The catch-up's parameters from the index's horizon (FAILED_PRECONDITION
// before the load).
absl::StatusOr<std::vector<std::string>> CatchUpParams(const KeyIndex& index) {
  std::optional<Snapshot> horizon = index.horizon();
  if (!horizon.has_value()) return absl::FailedPreconditionError("key index not loaded");
  std::vector<int64_t> in_progress(horizon->xip.begin(), horizon->xip.end());
  return std::vector<std::string>{absl::StrCat(horizon->xmax), pg::Int64Array(in_progress),
                                  absl::StrCat(std::numeric_limits<int64_t>::max())};
}

// Applies the catch-up's `n` rows (`row_at(i)` a TextRow or BinaryRow).
template <typename RowAt>
absl::Status ApplyCatchUp(int n, RowAt row_at, KeyIndex& index, CandidateCache& cache,
                          bool advance) {
  if (n == 0) return absl::InternalError("catch-up: no snapshot");
  // Columns: the 18 match columns and version (r.*), then snap, then own.
  const auto first = row_at(0);
  MERIDIAN_ASSIGN_OR_RETURN(Snapshot now, Snapshot::Parse(first.Text(19)));
  // PostgreSQL leaves a transaction's own ID out of its snapshot's
  // in-progress list: it is in progress for everyone else (a FOR UPDATE
  // before the catch-up gives the transaction one), and its records must
  // still be asked for once it commits.
  if (!first.IsNull(20)) {
    uint64_t own;
    if (!absl::SimpleAtoi(first.Text(20), &own)) {
      return absl::InternalError("catch-up: not a transaction ID");
    }
    now.IncludeInProgress(own);
  }
  for (int i = 0; i < n; ++i) {
    const auto row = row_at(i);
    if (row.IsNull(0)) continue;  // nothing changed
    StoredRecord r = FromMatchColumns(row);
    const int32_t version = row.Int32(18);
    index.Apply(r.id, version, BlockingKeys(r.match));
    cache.Put(r, version);
  }
  if (advance) index.Advance(now);
  return absl::OkStatus();
}

// Brings `index` up to the snapshot of `tx`'s next statement: applies every
// record committed since the index's horizon (written by a transaction in
// progress in it, or later; not by `tx` itself, which may roll back), puts
// them into `cache` (committed, so final), and, with `advance`, makes that
// snapshot the horizon. One statement, returning only what changed (an
// index on change_xid). Pass `advance` false once `tx` has written source
// records: it then sees its own versions of them, not versions other
// transactions committed that the index may lack, so its snapshot cannot
// stand for "everything up to here applied".
absl::Status CatchUp(pqxx::transaction_base& tx, KeyIndex& index, CandidateCache& cache,
                     bool advance) {
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> params, CatchUpParams(index));
  pqxx::result rows = pg::ExecPrepared(tx, "pi_catch_up", internal::CatchUpSql(), params[0],
                                       params[1], params[2]);
  return ApplyCatchUp(
      static_cast<int>(rows.size()), [&](int i) { return TextRow{rows[i]}; }, index, cache,
      advance);
}

// Records sharing a blocking key with each of `records`: the (id, version)
// pairs from `index` (which the caller has brought up to the transaction's
// snapshot), the match fields from `cache`, or from source_record (one
// statement) for those it does not hold at that version. Per record: newest
// first, at most `per_key` per key and `total` in all. `fill_cache` is false
// once the transaction has written records (they may roll back).
std::vector<std::vector<StoredRecord>> CandidatesOfEachIn(
    pqxx::transaction_base& tx, const std::vector<const MatchRecord*>& records,
    int per_key, int total, const KeyIndex& index, CandidateCache& cache,
    bool fill_cache) {
  std::vector<std::vector<StoredRecord>> out(records.size());
  std::vector<std::vector<RecordVersion>> of(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    of[i] = index.Lookup(BlockingKeys(*records[i]), per_key);
  }
  // Per record, newest first, each once, capped, filled in place: one
  // cache lookup for them all, then one statement for what it lacks.
  std::vector<RecordVersion> wanted;
  std::vector<StoredRecord*> into;  // wanted[i]'s place in `out`
  const size_t cap = static_cast<size_t>(std::max(total, 0));
  for (size_t n = 0; n < of.size(); ++n) {
    std::vector<RecordVersion>& c = of[n];
    std::sort(c.begin(), c.end(), [](const RecordVersion& a, const RecordVersion& b) {
      return a.id > b.id;
    });
    c.erase(std::unique(c.begin(), c.end(),
                        [](const RecordVersion& a, const RecordVersion& b) {
                          return a.id == b.id;
                        }),
            c.end());
    if (c.size() > cap) c.resize(cap);
    out[n].resize(c.size());  // not resized again: `into` points into it
    for (size_t j = 0; j < c.size(); ++j) {
      wanted.push_back(c[j]);
      into.push_back(&out[n][j]);
    }
  }
  std::vector<size_t> missing = cache.Get(wanted, into);
  if (missing.empty()) return out;
  std::vector<int64_t> ids;
  ids.reserve(missing.size());
  for (size_t i : missing) ids.push_back(wanted[i].id);
  static const auto* const kSql = new std::string(absl::StrCat(
      "SELECT ", kMatchColumns, ", version FROM source_record WHERE id = ANY($1::bigint[])"));
  absl::flat_hash_map<int64_t, StoredRecord> fetched;
  for (const auto& row :
       pg::ExecPrepared(tx, "pi_candidate_rows", *kSql, pg::Int64Array(ids))) {
    StoredRecord r = FromMatchRow(row);
    if (fill_cache) cache.Put(r, VersionOf(row));
    const int64_t id = r.id;
    fetched.emplace(id, std::move(r));
  }
  for (size_t i : missing) {
    auto it = fetched.find(wanted[i].id);
    if (it != fetched.end()) *into[i] = it->second;  // else left with id 0
  }
  for (std::vector<StoredRecord>& c : out) {
    c.erase(std::remove_if(c.begin(), c.end(),
                           [](const StoredRecord& r) { return r.id == 0; }),
            c.end());
  }
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

// The advisory lock class of identities: expect_live_identities (migration
// 0011) takes them shared with this number; LockIdentities exclusive.
constexpr int32_t kIdentityLockClass = 1297238340;  // 'MRID'

// A committed record's candidate fields and version, for the cache.
struct SavedRecord {
  StoredRecord record;
  int32_t version;
};

// The writes of one registration in few round trips, on a connection whose
// transaction the unit begins and commits itself (pg::Pool::TransactByHand):
// BEGIN, key locks, the check of the identities the decisions lean on, new
// identities, new records (under ids reserved ahead) and review tasks wait
// and travel with the next statement (in one pipeline); a new identity goes
// with the insert of the record that needs it (one statement writes
// identity and record); and events go with the COMMIT. A group of new
// registrations thus makes two round trips (an updated record adds its own
// statements, and candidates missing from the cache one). Every statement
// goes through tx() or Waiting(), which send what waits first.
class PgUnit : public PatientUnit {
 public:
  PgUnit(pqxx::nontransaction& tx, KeyIndex& index, CandidateCache& cache,
         internal::SpareIds& spares, std::vector<SavedRecord>& saved)
      : tx_(tx), index_(index), cache_(cache), spares_(spares), saved_(saved) {}
  ~PgUnit() override { spares_.Give(spare_ids_); }

  // Writes what waits, the events, and COMMIT, in one round trip (none when
  // the unit sent nothing and has nothing to write).
  absl::Status Commit() {
    if (!begun_ && pending_locks_.empty() && expected_live_.empty() &&
        pending_identities_.empty() && pending_inserts_.empty() && pending_tasks_.empty() &&
        events_.empty()) {
      return absl::OkStatus();
    }
    std::vector<pg::PipelinedStatement> statements = Waiting();
    for (pg::PipelinedStatement& e : outbox::AppendStatements(events_)) {
      statements.push_back(std::move(e));
    }
    statements.push_back(pg::CommitStatement());
    pg::ExecPipeline(tx_, statements);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<StoredRecord>> FindSource(
      const std::string& org, const std::string& local) override {
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::optional<StoredRecord>> found,
                              FindSources({{org, local}}));
    return std::move(found[0]);
  }
  // One round trip for what waits (BEGIN, LockKeys' locks) and three more
  // statements, each run after the one before it (so the reads see what the
  // lock holders committed): the source records, the key index's catch-up
  // that the unit's candidate lookups will then need no statement for, and
  // (when the store's spares run short) IDs reserved, one for each source
  // and a batch ahead, so that new records can wait for the COMMIT's round
  // trip.
  absl::StatusOr<std::vector<std::optional<StoredRecord>>> FindSources(
      const std::vector<std::pair<std::string, std::string>>& sources) override {
    std::vector<std::string> orgs, locals;
    for (const auto& [org, local] : sources) {
      orgs.push_back(org);
      locals.push_back(local);
    }
    static const auto* const kSql = new std::string(absl::StrCat(
        "SELECT ", Columns(), " FROM source_record WHERE (organisation_id, local_id)"
        " IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY id FOR UPDATE"));
    std::map<std::pair<std::string, std::string>, StoredRecord> found;
    auto add = [&](StoredRecord r) {
      std::pair<std::string, std::string> key(r.organisation_id, r.local_id);
      found.emplace(std::move(key), std::move(r));
    };
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> catch_up, CatchUpParams(index_));
    std::vector<pg::PipelinedStatement> statements = Waiting();
    const size_t first = statements.size();
    statements.push_back(
        {"pi_find_sources", kSql, {pg::TextArray(orgs), pg::TextArray(locals)}});
    statements.push_back({"pi_catch_up", &internal::CatchUpSql(), std::move(catch_up)});
    // An id for each source that turns out new (an update's goes back).
    const size_t reserve = IdsToReserve(sources.size());
    if (reserve > 0) {
      statements.push_back({"pi_reserve_ids", &ReserveIdsSql(), {absl::StrCat(reserve)}});
    }
    std::vector<pg::BinaryResult> results = pg::ExecPipeline(tx_, statements);
    if (reserve > 0) {
      const pg::BinaryResult& reserved = results[first + 2];
      std::deque<int64_t> ids;
      for (int i = 0; i < reserved.rows(); ++i) ids.push_back(reserved.Int64(i, 0));
      KeepReserved(sources.size(), ids);
    }
    const pg::BinaryResult& rows = results[first];
    for (int i = 0; i < rows.rows(); ++i) add(FromColumns(BinaryRow{rows, i}));
    const pg::BinaryResult& changed = results[first + 1];
    MERIDIAN_RETURN_IF_ERROR(ApplyCatchUp(
        changed.rows(), [&](int i) { return BinaryRow{changed, i}; }, index_, cache_,
        /*advance=*/saved_.empty()));
    caught_up_ = true;
    std::vector<std::optional<StoredRecord>> out;
    for (const auto& source : sources) {
      auto it = found.find(source);
      if (it == found.end()) {
        out.emplace_back();
      } else {
        out.emplace_back(it->second);
      }
    }
    return out;
  }
  // Sent with the next statement (FindSources pipelines them; any other
  // statement sends them first).
  absl::Status LockKeys(const std::vector<std::string>& keys) override {
    pending_locks_.insert(pending_locks_.end(), keys.begin(), keys.end());
    caught_up_ = false;  // a catch-up must come after the locks
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<StoredRecord>> Candidates(const MatchRecord& r,
                                                       int per_key,
                                                       int total) override {
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::vector<StoredRecord>> found,
                              CandidatesOfEach({&r}, per_key, total));
    return std::move(found[0]);
  }
  // Records this unit wrote are not among them: the key index holds
  // committed records only.
  absl::StatusOr<std::vector<std::vector<StoredRecord>>> CandidatesOfEach(
      const std::vector<const MatchRecord*>& records, int per_key, int total) override {
    if (!caught_up_) {
      MERIDIAN_RETURN_IF_ERROR(CatchUp(tx(), index_, cache_, /*advance=*/saved_.empty()));
    }
    return CandidatesOfEachIn(tx(), records, per_key, total, index_, cache_,
                              /*fill_cache=*/saved_.empty());
  }
  absl::Status SaveSource(StoredRecord& rec) override { return SaveSources({&rec}); }
  absl::Status SaveSources(const std::vector<StoredRecord*>& records) override {
    std::vector<StoredRecord*> inserts;
    for (StoredRecord* r : records) {
      if (r->id == 0) {
        inserts.push_back(r);
      } else {
        Update(*r);
      }
    }
    if (!inserts.empty()) Insert(inserts);
    return absl::OkStatus();
  }
  absl::Status CreateIdentity(const std::string& regional_id) override {
    pending_identities_.push_back(regional_id);
    return absl::OkStatus();
  }
  absl::Status CreateReviewTask(const ReviewTaskRow& task) override {
    return CreateReviewTasks({task});
  }
  // Written with the next statement, or the COMMIT. A task already open
  // for the same pair fails that statement (ALREADY_EXISTS, the transaction
  // rolled back).
  absl::Status CreateReviewTasks(const std::vector<ReviewTaskRow>& tasks) override {
    pending_tasks_.insert(pending_tasks_.end(), tasks.begin(), tasks.end());
    return absl::OkStatus();
  }
  absl::Status KeepApart(int64_t a, int64_t b) override {
    tx().exec_params(
        "INSERT INTO kept_apart (record_a, record_b) VALUES (least($1::bigint,"
        " $2::bigint), greatest($1::bigint, $2::bigint)) ON CONFLICT DO NOTHING",
        a, b);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<int64_t>> KeptApartFrom(int64_t id) override {
    std::vector<int64_t> out;
    for (const auto& row : tx().exec_params(
             "SELECT record_b FROM kept_apart WHERE record_a = $1 UNION ALL"
             " SELECT record_a FROM kept_apart WHERE record_b = $1",
             id)) {
      out.push_back(row[0].as<int64_t>());
    }
    return out;
  }
  absl::StatusOr<ReviewTaskRow> TakeOpenReviewTask(const std::string& id) override {
    pqxx::result r = tx().exec_params(
        absl::StrCat("SELECT ", kTaskColumns, " FROM review_task WHERE id = $1::uuid"
                     " AND status = 'open' FOR UPDATE"),
        id);
    if (r.empty()) return absl::NotFoundError("review_task_id: no open review task");
    return TaskFromRow(r[0]);
  }
  absl::StatusOr<StoredRecord> RecordById(int64_t id) override {
    return ById(tx(), id, /*for_update=*/true);
  }
  absl::Status SupersedeReviewTasks(int64_t record_id) override {
    pg::ExecPrepared(tx(), "pi_supersede_reviews",
                     "UPDATE review_task SET status = 'superseded', resolved_at = now()"
                     " WHERE record_id = $1 AND status = 'open'",
                     record_id);
    return absl::OkStatus();
  }
  absl::Status CloseReviewTask(const std::string& id, const std::string& resolution,
                               const std::string& resolved_by,
                               const std::string& reason) override {
    tx().exec_params(
        "UPDATE review_task SET status = $2, resolved_by = $3, reason = $4,"
        " resolved_at = now() WHERE id = $1::uuid",
        id, resolution, resolved_by, reason);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<StoredRecord>> LockRecordsOf(
      const std::string& regional_id) override {
    std::vector<StoredRecord> out;
    for (const auto& row : tx().exec_params(
             absl::StrCat("SELECT ", Columns(), " FROM source_record WHERE"
                          " regional_id = $1::uuid ORDER BY id FOR UPDATE"),
             regional_id)) {
      out.push_back(FromRow(row));
    }
    return out;
  }
  absl::StatusOr<std::string> LockIdentity(const std::string& regional_id) override {
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> merged_into,
                              LockIdentities({regional_id}));
    return merged_into[0];
  }
  absl::StatusOr<std::vector<std::string>> LockIdentities(
      const std::vector<std::string>& regional_ids) override {
    absl::flat_hash_map<std::string, std::string> merged_into;
    // Exclusive: a registration linking to one of them (which takes it
    // shared, in expect_live_identities; migration 0011) runs before or
    // after, not during. Then the rows, each as its lock holder left it.
    static const auto* const kSql = new std::string(absl::StrCat(
        "SELECT pg_advisory_xact_lock(", kIdentityLockClass, ", hashtext(id::text))"
        " FROM (SELECT DISTINCT id FROM unnest($1::uuid[]) AS id ORDER BY id) AS sorted"));
    pg::ExecPrepared(tx(), "pi_lock_identities_advisory", *kSql, pg::TextArray(regional_ids));
    for (const auto& row : pg::ExecPrepared(
             tx(), "pi_lock_identities",
             "SELECT regional_id::text, coalesce(merged_into::text, '') FROM identity"
             " WHERE regional_id = ANY($1::uuid[]) ORDER BY regional_id FOR UPDATE",
             pg::TextArray(regional_ids))) {
      merged_into.emplace(row[0].as<std::string>(), row[1].as<std::string>());
    }
    std::vector<std::string> out;
    for (const std::string& id : regional_ids) {
      auto it = merged_into.find(id);
      if (it == merged_into.end()) return absl::NotFoundError("no such identity");
      out.push_back(it->second);
    }
    return out;
  }
  // Every one live, checked (and locked, shared) ahead of the writes that
  // lean on them: expect_live_identities (migrations 0010, 0011) fails the unit with
  // serialization_failure, which the pool retries, if one was merged.
  absl::StatusOr<std::vector<std::string>> LockIdentitiesLazily(
      const std::vector<std::string>& regional_ids) override {
    expected_live_.insert(expected_live_.end(), regional_ids.begin(), regional_ids.end());
    return std::vector<std::string>(regional_ids.size());
  }
  absl::Status SetMergedInto(const std::string& regional_id,
                             const std::string& into) override {
    tx().exec_params(
        "UPDATE identity SET merged_into = nullif($2, '')::uuid"
        " WHERE regional_id = $1::uuid",
        regional_id, into);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> RecordMerge(const MergeRow& merge, const std::string& by,
                                          const std::string& reason) override {
    std::string id = ids::NewUuid();
    tx().exec_params(
        "INSERT INTO merge_history (id, from_regional_id, into_regional_id,"
        " record_ids, merged_by, reason) VALUES ($1::uuid, $2::uuid, $3::uuid,"
        " $4::bigint[], $5, $6)",
        id, merge.from_regional_id, merge.into_regional_id,
        pg::Int64Array(merge.record_ids), by, reason);
    return id;
  }
  absl::StatusOr<MergeRow> TakeMerge(const std::string& merge_id) override {
    pqxx::result r = tx().exec_params(
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
    tx().exec_params(
        "UPDATE merge_history SET unmerged_by = $2, unmerge_reason = $3,"
        " unmerged_at = now() WHERE id = $1::uuid",
        merge_id, by, reason);
    return absl::OkStatus();
  }
  absl::Status Emit(const outbox::EventHeader& header,
                    const google::protobuf::Message& payload) override {
    absl::StatusOr<events::v1::EventEnvelope> env = outbox::NewEnvelope(header, payload);
    if (!env.ok()) return env.status();
    events_.push_back({header.topic, *std::move(env)});
    return absl::OkStatus();
  }

 private:
  // IDs reserved beyond a group's needs when the spares run short.
  static constexpr size_t kIdsReservedAhead = 64;
  // How many IDs to reserve from the sequence so that the unit holds `n`:
  // none when it does, or when the store's spares had the rest (now the
  // unit's); else what it lacks and a batch ahead (see KeepReserved).
  size_t IdsToReserve(size_t n) {
    if (spare_ids_.size() >= n) return 0;
    const size_t missing = n - spare_ids_.size();
    return spares_.Take(missing, spare_ids_) ? 0 : missing + kIdsReservedAhead;
  }
  // Of `reserved` (ascending), what the unit lacks of `n` IDs; the rest go
  // to the store's spares.
  void KeepReserved(size_t n, std::deque<int64_t>& reserved) {
    while (spare_ids_.size() < n && !reserved.empty()) {
      spare_ids_.push_back(reserved.front());
      reserved.pop_front();
    }
    spares_.Give(reserved);
  }
  // `$1` new ids from source_record's sequence, in order.
  static const std::string& ReserveIdsSql() {
    static const auto* const kSql = new std::string(
        "SELECT nextval('source_record_id_seq') FROM generate_series(1, $1::int) ORDER BY 1");
    return *kSql;
  }

  // LockKeys' statement: advisory locks in hash order.
  static const std::string& LockSql() {
    static const auto* const kSql = new std::string(
        "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0)"
        " AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS s");
    return *kSql;
  }

  // What waits to be sent ahead of the next statement, in order: BEGIN
  // (once), the key locks, the identities expected live, new identities, new
  // records, review tasks. Taken: the caller sends them.
  std::vector<pg::PipelinedStatement> Waiting() {
    static const auto* const kIdentitySql =
        new std::string("INSERT INTO identity (regional_id) SELECT unnest($1::uuid[])");
    static const auto* const kLiveSql =
        new std::string("SELECT expect_live_identities($1::uuid[])");
    static const auto* const kTaskSql = new std::string(
        "INSERT INTO review_task (id, record_id, candidate_record_id, probability)"
        " SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::float8[])");
    std::vector<pg::PipelinedStatement> out;
    if (!begun_) out.push_back(pg::BeginStatement());
    begun_ = true;
    if (!pending_locks_.empty()) {
      out.push_back({"pi_lock_keys", &LockSql(), {pg::TextArray(pending_locks_)}});
      pending_locks_.clear();
    }
    if (!expected_live_.empty()) {
      std::sort(expected_live_.begin(), expected_live_.end());
      expected_live_.erase(std::unique(expected_live_.begin(), expected_live_.end()),
                           expected_live_.end());
      out.push_back({"pi_expect_live", kLiveSql, {pg::TextArray(expected_live_)}});
      expected_live_.clear();
    }
    if (!pending_identities_.empty()) {
      out.push_back({"pi_insert_identities", kIdentitySql,
                     {pg::TextArray(pending_identities_)}});
      pending_identities_.clear();
    }
    for (pg::PipelinedStatement& insert : pending_inserts_) out.push_back(std::move(insert));
    pending_inserts_.clear();
    if (!pending_tasks_.empty()) {
      std::vector<std::string> ids, probabilities;
      std::vector<int64_t> records, candidates;
      for (const ReviewTaskRow& t : pending_tasks_) {
        ids.push_back(t.id);
        records.push_back(t.record_id);
        candidates.push_back(t.candidate_id);
        probabilities.push_back(absl::StrFormat("%.17g", t.probability));
      }
      out.push_back({"pi_insert_review_tasks", kTaskSql,
                     {pg::TextArray(ids), pg::Int64Array(records), pg::Int64Array(candidates),
                      pg::TextArray(probabilities)}});
      pending_tasks_.clear();
    }
    return out;
  }

  // The transaction, once what waits is sent.
  pqxx::transaction_base& tx() {
    caught_up_ = false;  // another statement: the next lookup catches up again
    std::vector<pg::PipelinedStatement> waiting = Waiting();
    if (!waiting.empty()) pg::ExecPipeline(tx_, waiting);
    return tx_;
  }

  // New records, with the waiting identities they belong to, as one
  // statement that waits (the foreign key to identity is checked at its
  // end). Sets each record's id from the ids reserved (reserving more first
  // when FindSources' are spent). Their blocking keys reach the key index
  // when a catch-up reads them committed.
  void Insert(const std::vector<StoredRecord*>& records) {
    static const auto* const kSql = new std::string(
        "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[],"
        "   $4::bytea[], $5::bytea[], $6::text[], $7::text[], $8::text[], $9::text[],"
        "   $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],"
        "   $15::text[], $16::text[], $17::text[], $18::text[], $19::text[],"
        "   $20::text[], $22::bigint[]) AS t(organisation_id, local_id, regional_id,"
        "   request, response, request_hash, family, given, family_pinyin,"
        "   given_pinyin, sex, birth_date, phone, street_number, address, locality,"
        "   postcode, region, resident_id, other_id, id)),"
        " new_identity AS (INSERT INTO identity (regional_id)"
        "   SELECT unnest($21::uuid[]))"
        " INSERT INTO source_record (id, organisation_id, local_id,"
        "   regional_id, request, response, request_hash, family, given,"
        "   family_pinyin, given_pinyin, sex, birth_date, phone, street_number,"
        "   address, locality, postcode, region, resident_id, other_id)"
        " SELECT id, organisation_id, local_id, regional_id, request, response,"
        "   request_hash, family, given, family_pinyin, given_pinyin, sex,"
        "   birth_date, phone, street_number, address, locality, postcode, region,"
        "   resident_id, other_id FROM input");
    if (const size_t reserve = IdsToReserve(records.size()); reserve > 0) {
      std::deque<int64_t> ids;
      for (const auto& row : pg::ExecPrepared(tx(), "pi_reserve_ids", ReserveIdsSql(),
                                              static_cast<int64_t>(reserve))) {
        ids.push_back(row[0].as<int64_t>());
      }
      KeepReserved(records.size(), ids);
    }
    constexpr int kText = 15;  // the text columns after the two byteas
    std::vector<std::string> orgs, locals, regionals, requests, responses;
    std::vector<std::vector<std::string>> text(kText);
    std::vector<int64_t> ids;
    absl::flat_hash_set<std::string> regional_set;
    for (StoredRecord* r : records) {
      r->id = spare_ids_.front();
      spare_ids_.pop_front();
      r->match.id = r->id;
      ids.push_back(r->id);
      const MatchRecord& m = r->match;
      orgs.push_back(r->organisation_id);
      locals.push_back(r->local_id);
      regionals.push_back(r->regional_id);
      regional_set.insert(r->regional_id);
      requests.push_back(absl::StrCat("\\x", absl::BytesToHexString(
                                                  r->request.SerializeAsString())));
      responses.push_back(absl::StrCat("\\x", absl::BytesToHexString(
                                                   r->response.SerializeAsString())));
      const std::string* values[kText] = {
          &r->request_hash, &m.family, &m.given, &m.family_pinyin, &m.given_pinyin,
          &m.sex, &m.birth_date, &m.phone, &m.street_number, &m.address, &m.locality,
          &m.postcode, &m.region, &m.resident_id, &m.other_id};
      for (int i = 0; i < kText; ++i) text[i].push_back(*values[i]);
      saved_.push_back({*r, 1});  // a new record's version (the column's default)
    }
    // Identities that wait for these records go with them; any other waits
    // on (and is written first, ahead of this statement).
    std::vector<std::string> with_records, others;
    for (std::string& id : pending_identities_) {
      (regional_set.contains(id) ? with_records : others).push_back(std::move(id));
    }
    pending_identities_ = std::move(others);
    std::vector<std::string> params = {
        pg::TextArray(orgs), pg::TextArray(locals), pg::TextArray(regionals),
        pg::TextArray(requests), pg::TextArray(responses)};
    for (const std::vector<std::string>& column : text) params.push_back(pg::TextArray(column));
    params.push_back(pg::TextArray(with_records));
    params.push_back(pg::Int64Array(ids));
    pending_inserts_.push_back({"pi_insert_sources", kSql, std::move(params)});
  }

  // A changed record: a new version, written by this transaction (so the
  // next catch-up of every replica moves it to its new keys).
  void Update(StoredRecord& rec) {
    const MatchRecord& m = rec.match;
    pqxx::row row = pg::ExecPrepared(
        tx(), "pi_update_source",
        "UPDATE source_record SET version = version + 1, regional_id = $2::uuid,"
        " request = $3, response = $4, request_hash = $5, family = $6, given = $7,"
        " family_pinyin = $8, given_pinyin = $9, sex = $10, birth_date = $11,"
        " phone = $12, street_number = $13, address = $14, locality = $15,"
        " postcode = $16, region = $17, resident_id = $18, other_id = $19,"
        " updated_at = now(), change_xid = pg_current_xact_id() WHERE id = $1"
        " RETURNING version",
        rec.id, rec.regional_id, pqxx::binarystring(rec.request.SerializeAsString()),
        pqxx::binarystring(rec.response.SerializeAsString()), rec.request_hash,
        m.family, m.given, m.family_pinyin, m.given_pinyin, m.sex, m.birth_date,
        m.phone, m.street_number, m.address, m.locality, m.postcode, m.region,
        m.resident_id, m.other_id)[0];
    const int32_t version = row[0].as<int32_t>();
    rec.match.id = rec.id;
    saved_.push_back({rec, version});
  }

  pqxx::nontransaction& tx_;
  KeyIndex& index_;
  CandidateCache& cache_;
  internal::SpareIds& spares_;
  std::vector<SavedRecord>& saved_;  // records saved: their versions may roll back
  std::vector<std::string> pending_locks_;
  std::vector<std::string> pending_identities_;
  std::vector<std::string> expected_live_;  // LockIdentitiesLazily's, to check
  std::vector<pg::PipelinedStatement> pending_inserts_;
  std::vector<ReviewTaskRow> pending_tasks_;
  std::deque<int64_t> spare_ids_;  // reserved from source_record's sequence
  bool begun_ = false;      // BEGIN sent
  bool caught_up_ = false;  // by FindSources' pipeline, no statement since
  std::vector<outbox::PendingEvent> events_;
};

}  // namespace

std::vector<pg::MigrationSet> AllMigrations() {
  return {outbox::MigrationSet(), {"patient_index", &Migrations()}};
}

absl::Status PgPatientStore::Run(
    const std::function<absl::Status(PatientUnit&)>& fn) {
  MERIDIAN_RETURN_IF_ERROR(EnsureLoaded());
  std::vector<SavedRecord> saved;
  absl::Status status = pool_->TransactByHand([&](pqxx::nontransaction& tx) {
    saved.clear();  // from an attempt that was rolled back
    PgUnit unit(tx, index_, cache_, spare_ids_, saved);
    absl::Status s = fn(unit);
    return s.ok() ? unit.Commit() : s;  // the pool rolls back what is not committed
  });
  // Committed: these versions are final.
  if (status.ok()) {
    for (const SavedRecord& r : saved) cache_.Put(r.record, r.version);
  }
  return status;
}

absl::StatusOr<std::optional<StoredRecord>> PgPatientStore::FindSource(
    const std::string& org, const std::string& local) {
  return pool_->Read(
      [&](pqxx::nontransaction& tx) { return FindIn(tx, org, local); });
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

absl::StatusOr<int64_t> PgPatientStore::Load() {
  absl::MutexLock lock(&load_mu_);
  return LoadLocked();
}

absl::StatusOr<int64_t> PgPatientStore::LoadLocked() {
  constexpr int kChunk = 20'000;
  static const auto* const kSql = new std::string(absl::StrCat(
      "SELECT ", kMatchColumns, ", version FROM source_record WHERE id < $1"
      " ORDER BY id DESC LIMIT $2"));
  // One snapshot for every chunk: what it saw is loaded, and the first
  // catch-up asks for the rest.
  auto load = [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    MERIDIAN_ASSIGN_OR_RETURN(
        Snapshot snapshot,
        Snapshot::Parse(tx.exec1("SELECT pg_current_snapshot()::text")[0].as<std::string>()));
    int64_t loaded = 0;
    int64_t below = std::numeric_limits<int64_t>::max();
    while (true) {
      pqxx::result rows = pg::ExecPrepared(tx, "pi_load", *kSql, below, kChunk);
      for (const auto& row : rows) {
        StoredRecord r = FromMatchRow(row);
        const int32_t version = VersionOf(row);
        index_.Apply(r.id, version, BlockingKeys(r.match));
        // The newest records (loaded newest first), as many as the cache
        // holds: a Put would evict them for older ones.
        cache_.PutIfRoom(r, version);
        below = r.id;
      }
      loaded += static_cast<int64_t>(rows.size());
      if (static_cast<int>(rows.size()) < kChunk) break;
    }
    index_.Advance(snapshot);
    return loaded;
  };
  return pool_->Transact(load, {.isolation = pg::Isolation::kRepeatableRead});
}

absl::Status PgPatientStore::EnsureLoaded() {
  if (index_.loaded()) return absl::OkStatus();
  absl::MutexLock lock(&load_mu_);
  if (index_.loaded()) return absl::OkStatus();
  return LoadLocked().status();
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
  // The TF fields' columns in source_record, counted in one scan (grouping
  // sets: a third less time than a scan each). GROUPING() tells the sets
  // apart: the bit of each column not grouped is set.
  static constexpr struct {
    Field field;
    int grouping;
  } kSets[] = {{kFamily, 0b0111}, {kGiven, 0b1011}, {kLocality, 0b1101}, {kPostcode, 0b1110}};
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<TermFrequencies> {
    TermFrequencies tf;
    for (const auto& row : tx.exec(
             "SELECT GROUPING(family, given, locality, postcode),"
             " COALESCE(family, given, locality, postcode), count(*) FROM source_record"
             " GROUP BY GROUPING SETS ((family), (given), (locality), (postcode))")) {
      const int grouping = row[0].as<int>();
      const std::string value = row[1].as<std::string>();
      if (value.empty()) continue;
      for (const auto& set : kSets) {
        if (set.grouping == grouping && TermFrequencies::Adjusts(set.field)) {
          tf.AddCount(set.field, value, row[2].as<int64_t>());
        }
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
  MERIDIAN_RETURN_IF_ERROR(EnsureLoaded());
  return pool_->Read(
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<StoredRecord>> {
        MERIDIAN_RETURN_IF_ERROR(CatchUp(tx, index_, cache_, /*advance=*/true));
        return std::move(CandidatesOfEachIn(tx, {&r}, per_key, total, index_, cache_,
                                            /*fill_cache=*/true)[0]);
      });
}

}  // namespace meridian::patient
