#include "libs/pg/connection.h"

#include <endian.h>
#include <libpq-fe.h>

#include <cstring>
#include <type_traits>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "pqxx/except"

namespace meridian::pg {
namespace {

// Every live pg::Connection: libpqxx's connection_base is not polymorphic,
// so this is how ExecBinary tells one from another libpqxx connection.
struct Registry {
  absl::Mutex mu;
  absl::flat_hash_set<const pqxx::connection_base*> live ABSL_GUARDED_BY(mu);
};

// The type OIDs of bigint and integer (pg_type.h, fixed since PostgreSQL 7).
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt4Oid = 23;

Registry& Connections() {
  static Registry* registry = new Registry;  // never destroyed
  return *registry;
}

}  // namespace

Connection::Connection(const std::string& options)
    : pqxx::connection_base(policy_), policy_(options, &handle_, &pipeline_statements_) {
  init();
  Registry& r = Connections();
  absl::MutexLock lock(&r.mu);
  r.live.insert(this);
}

Connection::~Connection() noexcept {
  {
    Registry& r = Connections();
    absl::MutexLock lock(&r.mu);
    r.live.erase(this);
  }
  close();
}

// Each hook lets libpqxx do its work, then records the handle it returns
// (null once dropped or closed).
Connection::Policy::handle Connection::Policy::do_startconnect(handle orig) {
  return *slot_ = connect_direct::do_startconnect(orig);
}

Connection::Policy::handle Connection::Policy::do_completeconnect(handle orig) {
  prepared_->clear();  // a new session
  return *slot_ = connect_direct::do_completeconnect(orig);
}

Connection::Policy::handle Connection::Policy::do_dropconnect(handle orig) noexcept {
  return *slot_ = connect_direct::do_dropconnect(orig);
}

Connection::Policy::handle Connection::Policy::do_disconnect(handle orig) noexcept {
  return *slot_ = connect_direct::do_disconnect(orig);
}

void BinaryResult::Clear::operator()(pg_result* r) const { PQclear(r); }

int BinaryResult::rows() const { return PQntuples(result_.get()); }

bool BinaryResult::IsNull(int row, int col) const {
  return PQgetisnull(result_.get(), row, col) != 0;
}

absl::string_view BinaryResult::Bytes(int row, int col) const {
  return absl::string_view(PQgetvalue(result_.get(), row, col),
                           PQgetlength(result_.get(), row, col));
}

namespace {

// A binary integer column of type `oid` (network byte order).
template <typename T>
T ReadInteger(const pg_result* r, int row, int col, unsigned oid, const char* type) {
  std::make_unsigned_t<T> v = 0;
  if (PQftype(r, col) != oid || PQgetlength(r, row, col) != sizeof v) {
    throw pqxx::conversion_error(std::string("binary result: not ") + type + " (or NULL)");
  }
  std::memcpy(&v, PQgetvalue(r, row, col), sizeof v);
  if constexpr (sizeof v == 8) {
    return static_cast<T>(be64toh(v));
  } else {
    return static_cast<T>(be32toh(v));
  }
}

}  // namespace

int64_t BinaryResult::Int64(int row, int col) const {
  return ReadInteger<int64_t>(result_.get(), row, col, kInt8Oid, "a bigint");
}

int32_t BinaryResult::Int32(int row, int col) const {
  return ReadInteger<int32_t>(result_.get(), row, col, kInt4Oid, "an integer");
}

namespace {

// `tx`'s connection, which must be a pg::Connection.
Connection& ConnectionOf(pqxx::transaction_base& tx, const char* caller) {
  Registry& r = Connections();
  absl::MutexLock lock(&r.mu);
  if (!r.live.contains(&tx.conn())) {
    throw pqxx::usage_error(std::string(caller) + " needs a pg::Connection");
  }
  return static_cast<Connection&>(tx.conn());
}

pqxx::broken_connection Broken(pg_conn* handle) {
  return pqxx::broken_connection(std::string("postgres: connection lost: ") +
                                 PQerrorMessage(handle));
}

}  // namespace

BinaryResult ExecBinary(pqxx::transaction_base& tx, const std::string& sql,
                        const std::vector<std::string>& params) {
  Connection* conn = &ConnectionOf(tx, "pg::ExecBinary");
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) values.push_back(p.c_str());
  BinaryResult result(PQexecParams(conn->handle(), sql.c_str(),
                                   static_cast<int>(values.size()), nullptr,
                                   values.data(), nullptr, nullptr, /*resultFormat=*/1));
  pg_result* r = result.result_.get();
  if (r != nullptr && PQresultStatus(r) == PGRES_TUPLES_OK) return result;
  if (r == nullptr || PQstatus(conn->handle()) != CONNECTION_OK) throw Broken(conn->handle());
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  throw pqxx::sql_error(PQresultErrorMessage(r), sql, state != nullptr ? state : "");
}

const std::string& internal::CommitSql() {
  static const auto* const kSql = new std::string("COMMIT");
  return *kSql;
}

std::vector<BinaryResult> ExecPipeline(pqxx::transaction_base& tx,
                                       const std::vector<PipelinedStatement>& statements) {
  Connection& conn = ConnectionOf(tx, "pg::ExecPipeline");
  pg_conn* h = conn.handle();
  // A connection left in pipeline mode refuses every ordinary statement: on
  // any way out but the normal one, drop it (the pool then discards it).
  struct Guard {
    Connection& conn;
    pg_conn* h;
    ~Guard() {
      if (h != nullptr && PQpipelineStatus(h) != PQ_PIPELINE_OFF) conn.disconnect();
    }
  } guard{conn, h};
  // What was sent, in order: a Parse (`prepare` names it) or an execution;
  // the COMMIT's place among them; how many results were read; whether one
  // was an error.
  struct Sent {
    const PipelinedStatement* statement;
    std::string prepare;
  };
  std::vector<Sent> sent;
  constexpr size_t kNoCommit = static_cast<size_t>(-1);
  size_t commit_at = kNoCommit, next = 0;
  bool failed = false;
  // A connection lost once the COMMIT was sent, with no error before it and
  // its answer unread, may have committed; otherwise nothing was.
  auto lost = [&]() {
    if (commit_at != kNoCommit && !failed && next <= commit_at) {
      throw pqxx::in_doubt_error(std::string("postgres: connection lost during a commit: ") +
                                 PQerrorMessage(h));
    }
    throw Broken(h);
  };
  // Throws: a lost connection as such, anything else as a failure.
  auto fail = [&](const char* what) {
    if (PQstatus(h) != CONNECTION_OK) lost();
    throw pqxx::failure(std::string("pg::ExecPipeline: ") + what + ": " + PQerrorMessage(h));
  };
  // Each name stands for one SQL text, checked before anything is sent.
  absl::flat_hash_map<std::string, std::string> parse;  // names to Parse first
  for (const PipelinedStatement& s : statements) {
    const std::string name = "pl_" + s.name;
    auto prepared = conn.pipeline_statements().find(name);
    if (prepared != conn.pipeline_statements().end()) {
      if (prepared->second != *s.sql) {
        throw pqxx::usage_error("pg::ExecPipeline: " + s.name + " prepared with other SQL");
      }
      continue;
    }
    auto [parsed, fresh] = parse.try_emplace(name, *s.sql);
    if (!fresh && parsed->second != *s.sql) {
      throw pqxx::usage_error("pg::ExecPipeline: " + s.name + " given two SQL texts");
    }
  }
  // What an earlier command left unread (libpqxx reads a COPY's result but
  // not the end of it), as PQexec discards it: pipeline mode needs an idle
  // connection.
  while (pg_result* left = PQgetResult(h)) PQclear(left);
  // A connection the server already closed (it said why and left) is
  // found here, before anything is sent: plainly lost, nothing committed.
  if (PQconsumeInput(h) != 1 || PQstatus(h) != CONNECTION_OK) throw Broken(h);
  if (PQenterPipelineMode(h) != 1) fail("cannot enter pipeline mode");
  for (const PipelinedStatement& s : statements) {
    const std::string name = "pl_" + s.name;
    if (parse.erase(name) > 0) {
      if (PQsendPrepare(h, name.c_str(), s.sql->c_str(), 0, nullptr) != 1) fail("cannot send");
      sent.push_back({&s, name});
    }
    const int n = static_cast<int>(s.params.size());
    std::vector<const char*> values(n);
    std::vector<int> lengths(n), formats(n);
    for (int i = 0; i < n; ++i) {
      values[i] = s.params[i].data();
      lengths[i] = static_cast<int>(s.params[i].size());
      formats[i] = i < static_cast<int>(s.binary.size()) && s.binary[i] ? 1 : 0;
    }
    if (PQsendQueryPrepared(h, name.c_str(), n, values.data(), lengths.data(), formats.data(),
                            /*resultFormat=*/1) != 1) {
      fail("cannot send");
    }
    if (s.sql == &internal::CommitSql()) commit_at = sent.size();
    sent.push_back({&s, ""});
  }
  if (PQpipelineSync(h) != 1) fail("cannot send");
  // One result per command sent, each followed by a null, then the sync's.
  std::vector<BinaryResult> out;
  std::string error, error_sql, error_state;
  size_t nulls = 0;
  while (true) {
    pg_result* raw = PQgetResult(h);
    if (raw == nullptr) {
      if (PQstatus(h) != CONNECTION_OK) {
        // Lost after the COMMIT answered: committed, every result here (the
        // guard closes the connection, so the pool drops it).
        if (commit_at != kNoCommit && next > commit_at && !failed &&
            out.size() == statements.size()) {
          return out;
        }
        lost();
      }
      if (++nulls > sent.size() + 1) lost();
      continue;
    }
    BinaryResult result(raw);
    const ExecStatusType status = PQresultStatus(raw);
    if (status == PGRES_PIPELINE_SYNC) break;
    if (next >= sent.size()) lost();
    const Sent& command = sent[next++];
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      if (command.prepare.empty()) {
        out.push_back(std::move(result));
      } else {
        conn.pipeline_statements().emplace(command.prepare, *command.statement->sql);
      }
    } else if (status != PGRES_PIPELINE_ABORTED) {
      const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
      // libpq's own error for a connection gone, not the server's answer.
      if (state == nullptr && PQstatus(h) != CONNECTION_OK) lost();
      if (!failed) {
        failed = true;
        error = PQresultErrorMessage(raw);
        if (error.empty()) error = PQresStatus(status);
        error_sql = *command.statement->sql;
        error_state = state != nullptr ? state : "";
      }
    }
  }
  if (PQexitPipelineMode(h) != 1) fail("cannot leave pipeline mode");
  if (failed) throw pqxx::sql_error(error, error_sql, error_state.c_str());
  if (out.size() != statements.size()) throw pqxx::failure("pg::ExecPipeline: results missing");
  return out;
}

}  // namespace meridian::pg
