#include "libs/pg/pool.h"

#include <libpq-fe.h>

#include "absl/strings/str_cat.h"
#include "pqxx/except"
#include "pqxx/nontransaction"

namespace meridian::pg {

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() = default;

absl::StatusOr<std::unique_ptr<Connection>> Pool::Connect() {
  try {
    auto conn = std::make_unique<Connection>(options_.uri);
    pqxx::nontransaction tx(*conn);
    tx.exec(absl::StrCat("SET application_name = ",
                         tx.quote(options_.application_name)));
    tx.exec(absl::StrCat("SET statement_timeout = ",
                         absl::ToInt64Milliseconds(options_.statement_timeout)));
    if (options_.generic_plans) tx.exec("SET plan_cache_mode = force_generic_plan");
    if (!options_.jit) tx.exec("SET jit = off");
    if (!options_.search_path.empty()) {
      tx.exec(absl::StrCat("SET search_path = ",
                           tx.quote_name(options_.search_path), ", public"));
    }
    return conn;
  } catch (...) {
    absl::Status s = StatusFromCurrentException();
    // A refused connection surfaces as broken_connection: keep UNAVAILABLE.
    return absl::UnavailableError(s.message());
  }
}

absl::StatusOr<std::unique_ptr<Connection>> Pool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline =
      std::chrono::steady_clock::now() +
      absl::ToChronoMilliseconds(options_.acquire_timeout);
  while (idle_.empty() && open_ >= options_.max_connections) {
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout &&
        idle_.empty() && open_ >= options_.max_connections) {
      return absl::UnavailableError(
          "postgres: no connection free in the pool before the timeout");
    }
  }
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    ++in_use_;
    return conn;
  }
  ++open_;
  ++in_use_;
  lock.unlock();
  auto conn = Connect();
  if (!conn.ok()) {
    lock.lock();
    --open_;
    --in_use_;
    cv_.notify_one();
  }
  return conn;
}

void Pool::Release(std::unique_ptr<Connection> conn, bool healthy) {
  std::lock_guard<std::mutex> lock(mu_);
  --in_use_;
  if (healthy) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
    try {
      conn.reset();
    } catch (...) {
    }
  }
  cv_.notify_one();
}

bool Pool::IsOpen(Connection& conn) {
  try {
    return conn.is_open();
  } catch (...) {
    return false;
  }
}

bool Pool::RolledBackIfOpen(Connection& conn, bool* healthy) {
  pg_conn* h = conn.handle();
  const PGTransactionStatusType state = h != nullptr ? PQtransactionStatus(h) : PQTRANS_UNKNOWN;
  if (state == PQTRANS_IDLE) return false;
  if (state != PQTRANS_INTRANS && state != PQTRANS_INERROR) {
    *healthy = false;  // busy or lost: not reusable
    return true;
  }
  pg_result* r = PQexec(h, "ROLLBACK");
  if (PQresultStatus(r) != PGRES_COMMAND_OK || PQtransactionStatus(h) != PQTRANS_IDLE) {
    *healthy = false;
  }
  PQclear(r);
  return true;
}

PipelinedStatement BeginStatement(Isolation isolation) {
  static const auto* const kSql = new std::string[3]{
      "BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ", "BEGIN ISOLATION LEVEL SERIALIZABLE"};
  static const char* const kNames[3] = {"begin", "begin_rr", "begin_serializable"};
  const int i = static_cast<int>(isolation);
  return {kNames[i], &kSql[i], {}};
}

PipelinedStatement CommitStatement() { return {"commit", &internal::CommitSql(), {}}; }

void Pool::Begin(pqxx::work& tx, Isolation isolation) {
  switch (isolation) {
    case Isolation::kReadCommitted:
      return;
    case Isolation::kRepeatableRead:
      tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      return;
    case Isolation::kSerializable:
      tx.exec("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
      return;
  }
}

absl::Status Pool::Ping() {
  return Transact([](pqxx::work& tx) {
    tx.exec("SELECT 1");
    return absl::OkStatus();
  }, TxnOptions{.max_attempts = 2});
}

PoolStats Pool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return PoolStats{open_, in_use_, options_.max_connections};
}

}  // namespace meridian::pg
