// A bounded pool of PostgreSQL connections and the transaction helper every
// store uses.
//
//   pg::Pool pool(pg::PoolOptions{.uri = uri, .max_connections = 8});
//   absl::StatusOr<int64_t> n = pool.Transact([&](pqxx::work& tx) {
//     return tx.exec1("SELECT count(*) FROM patient")[0].as<int64_t>();
//   });
//
// Transact runs the function inside a transaction and commits it. Exceptions
// thrown by libpqxx become absl::Status (see errors.h). Serialization failures
// and deadlocks (ABORTED) are retried with a fresh transaction, up to
// max_attempts; a connection found broken before the commit is replaced and
// the transaction retried once. The function may therefore run more than once
// and must not have side effects outside the transaction.
#ifndef MERIDIAN_LIBS_PG_POOL_H_
#define MERIDIAN_LIBS_PG_POOL_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/pg/connection.h"
#include "libs/pg/errors.h"
#include "pqxx/pqxx"

namespace meridian::pg {

enum class Isolation { kReadCommitted, kRepeatableRead, kSerializable };

struct PoolOptions {
  std::string uri;
  int max_connections = 8;
  // How long Acquire waits for a free connection before UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // Server-side statement_timeout for every connection (0 = none).
  absl::Duration statement_timeout = absl::Seconds(30);
  // Schema put first on each connection's search_path (empty = default).
  std::string search_path;
  // Sets application_name, visible in pg_stat_activity.
  std::string application_name = "meridian";
  // Plan each prepared statement once (plan_cache_mode =
  // force_generic_plan) instead of at every execution. A statement whose
  // parameters are arrays is otherwise re-planned on every call: the custom
  // plan, estimated from the array's actual length, always looks cheaper.
  // Set it only where every statement's generic plan has been checked.
  bool generic_plans = false;
  // JIT compilation (jit) for statements whose estimated cost passes
  // jit_above_cost. It compiles at every execution (~15 ms on this project's
  // machines), so a short statement whose generic plan estimates many rows
  // (a range over a column the planner knows little of) pays it each time:
  // turn it off where every statement is short.
  bool jit = true;
};

struct TxnOptions {
  Isolation isolation = Isolation::kReadCommitted;
  int max_attempts = 5;
};

// BEGIN (at `isolation`) and COMMIT as statements of an ExecPipeline, for
// Pool::TransactByHand. A connection lost while a pipeline that commits is
// in flight throws pqxx::in_doubt_error (UNKNOWN): it may have committed.
PipelinedStatement BeginStatement(Isolation isolation = Isolation::kReadCommitted);
PipelinedStatement CommitStatement();

struct PoolStats {
  int open = 0;    // connections currently open
  int in_use = 0;  // connections lent out
  int max = 0;
};

class Pool {
 public:
  explicit Pool(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs `fn(pqxx::work&)` in a committed transaction. `fn` returns
  // absl::Status, absl::StatusOr<T>, or a plain value T (wrapped in StatusOr).
  // A non-OK status from `fn` rolls the transaction back.
  template <typename Fn>
  auto Transact(Fn&& fn, TxnOptions options = {}) {
    return Run<pqxx::work>(std::forward<Fn>(fn), options);
  }

  // Runs `fn(pqxx::nontransaction&)`: each statement commits on its own, no
  // BEGIN/COMMIT round trips. For hot single-statement reads only: it has
  // Transact's error mapping and retries, so `fn` may run again, and nothing
  // is rolled back (options.isolation does not apply).
  template <typename Fn>
  auto Read(Fn&& fn, TxnOptions options = {}) {
    return Run<pqxx::nontransaction>(std::forward<Fn>(fn), options);
  }

  // Runs `fn(pqxx::nontransaction&)` for a caller that sends BEGIN and
  // COMMIT itself, so that each can share a round trip with other statements
  // (ExecPipeline with BeginStatement() first and CommitStatement() last).
  // Transact's error mapping and retries apply. However `fn` ends, a
  // connection it leaves inside a transaction block is rolled back before it
  // goes back to the pool, and `fn` returning OK from inside one is INTERNAL
  // (nothing is committed that `fn` did not commit). The isolation level is
  // the one the caller's BEGIN names.
  template <typename Fn>
  auto TransactByHand(Fn&& fn, TxnOptions options = {}) {
    return Run<pqxx::nontransaction>(std::forward<Fn>(fn), options);
  }

  // Runs a read-only check (`SELECT 1`): OK when the server answers.
  absl::Status Ping();

  PoolStats stats() const;
  const PoolOptions& options() const { return options_; }

 private:
  class Lease;

  template <typename Txn, typename Fn>
  auto Run(Fn&& fn, TxnOptions options);

  absl::StatusOr<std::unique_ptr<Connection>> Acquire();
  void Release(std::unique_ptr<Connection> conn, bool healthy);
  absl::StatusOr<std::unique_ptr<Connection>> Connect();
  static void Begin(pqxx::work& tx, Isolation isolation);
  static bool IsOpen(Connection& conn);
  // Whether `conn` was inside a transaction block (then rolled back, or
  // marked unusable in `*healthy` when that failed).
  static bool RolledBackIfOpen(Connection& conn, bool* healthy);

  const PoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;  // GUARDED_BY(mu_)
  int open_ = 0;                                         // GUARDED_BY(mu_)
  int in_use_ = 0;                                       // GUARDED_BY(mu_)
};

namespace internal {

template <typename T>
struct TransactResult {
  using type = absl::StatusOr<T>;
  static absl::Status StatusOf(const type& s) { return s.status(); }
};
template <>
struct TransactResult<absl::Status> {
  using type = absl::Status;
  static absl::Status StatusOf(const absl::Status& s) { return s; }
};
template <typename T>
struct TransactResult<absl::StatusOr<T>> {
  using type = absl::StatusOr<T>;
  static absl::Status StatusOf(const absl::StatusOr<T>& s) {
    return s.status();
  }
};

}  // namespace internal

template <typename Txn, typename Fn>
auto Pool::Run(Fn&& fn, TxnOptions options) {
  constexpr bool kTransaction = std::is_same_v<Txn, pqxx::work>;
  using Raw = std::decay_t<std::invoke_result_t<Fn&, Txn&>>;
  using Traits = internal::TransactResult<Raw>;
  using Result = typename Traits::type;
  absl::Status last = absl::InternalError("postgres: no attempt made");
  bool reconnected = false;
  for (int attempt = 0; attempt < options.max_attempts; ++attempt) {
    auto conn = Acquire();
    if (!conn.ok()) return Result(conn.status());
    bool healthy = true;
    absl::Status status;
    std::optional<Result> out;
    try {
      Txn tx(**conn);
      if constexpr (kTransaction) Begin(tx, options.isolation);
      Result r = fn(tx);
      status = Traits::StatusOf(r);
      if constexpr (kTransaction) {
        if (status.ok()) {
          tx.commit();
        } else {
          tx.abort();
        }
      }
      out.emplace(std::move(r));
    } catch (...) {
      status = StatusFromCurrentException();
      healthy = IsOpen(**conn);
    }
    // A connection closed on the way (ExecPipeline closes one lost after its
    // COMMIT answered) goes, whatever `fn` returned.
    if (healthy && status.ok()) healthy = IsOpen(**conn);
    // Only a pqxx::nontransaction can leave one open (TransactByHand's
    // caller, or a Read that sent BEGIN): never lend it out so.
    if (!kTransaction && healthy && RolledBackIfOpen(**conn, &healthy) && status.ok()) {
      out.reset();
      status = absl::InternalError("postgres: returned inside a transaction; rolled back");
    }
    Release(std::move(*conn), healthy && status.code() != absl::StatusCode::kUnavailable);
    if (out.has_value()) return std::move(*out);
    last = status;
    bool retry = status.code() == absl::StatusCode::kAborted ||
                 (status.code() == absl::StatusCode::kUnavailable && !reconnected);
    if (status.code() == absl::StatusCode::kUnavailable) reconnected = true;
    if (!retry) break;
    absl::SleepFor(absl::Milliseconds(5 << attempt));
  }
  return Result(last);
}

}  // namespace meridian::pg

#endif  // MERIDIAN_LIBS_PG_POOL_H_
