// pg::Connection: the pool's libpqxx connection, which also knows its libpq
// handle; ExecBinary: one statement with results in PostgreSQL's binary
// format, and ExecPipeline: several statements in one round trip (libpq's
// pipeline mode), for the few hot paths libpqxx 6.4 (Debian 12) cannot
// express.
//
// libpqxx 6.4 asks only for text results, so a bytea column travels
// hex-encoded at twice its size and is encoded by the server and decoded
// here. The outbox relay moves megabytes of bytea per batch; in binary format
// the server sends the stored bytes as they are (about 5x less server CPU for
// the column, half the bytes on the wire, nothing to decode).
//
//   absl::StatusOr<int> n = pool.Transact([&](pqxx::work& tx) {
//     pg::BinaryResult r = pg::ExecBinary(tx, "SELECT id, body FROM t WHERE id > $1",
//                                         {"42"});
//     for (int i = 0; i < r.rows(); ++i) Use(r.Int64(i, 0), r.Bytes(i, 1));
//     return r.rows();
//   });
//
// ExecBinary runs on the transaction's own connection, inside it, and
// reports failure the way libpqxx does (it throws pqxx::sql_error with the
// SQLSTATE, or pqxx::broken_connection), so Pool::Transact maps, retries and
// rolls back exactly as for any other statement.
#ifndef MERIDIAN_LIBS_PG_CONNECTION_H_
#define MERIDIAN_LIBS_PG_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "pqxx/connection"
#include "pqxx/transaction_base"

extern "C" {
struct pg_conn;
struct pg_result;
}

namespace meridian::pg {

// A libpqxx connection (connect now, as pqxx::connection does) that records
// the libpq handle through libpqxx's connection-policy hooks, including
// across libpqxx's own reconnects.
class Connection : public pqxx::connection_base {
 public:
  // `options`: a libpq connection string or URI.
  explicit Connection(const std::string& options);
  ~Connection() noexcept;

  pg_conn* handle() const { return handle_; }
  // The statements ExecPipeline has prepared on this connection, name to
  // SQL (cleared when libpqxx reconnects: a new session has none).
  absl::flat_hash_map<std::string, std::string>& pipeline_statements() {
    return pipeline_statements_;
  }

 private:
  class Policy : public pqxx::connect_direct {
   public:
    Policy(const std::string& options, pg_conn** slot,
           absl::flat_hash_map<std::string, std::string>* prepared)
        : connect_direct(options), slot_(slot), prepared_(prepared) {}
    handle do_startconnect(handle orig) override;
    handle do_completeconnect(handle orig) override;
    handle do_dropconnect(handle orig) noexcept override;
    handle do_disconnect(handle orig) noexcept override;

   private:
    pg_conn** slot_;
    absl::flat_hash_map<std::string, std::string>* prepared_;
  };

  // Declared (so initialised) before the policy that writes it; the base
  // class is handed the policy before it is built, as libpqxx's own
  // basic_connection_base does, and connects only in init().
  pg_conn* handle_ = nullptr;
  absl::flat_hash_map<std::string, std::string> pipeline_statements_;
  Policy policy_;
};

struct PipelinedStatement;

// A result in binary format. Accessors take a row and a column index; the
// caller knows the column types from its SQL.
class BinaryResult {
 public:
  int rows() const;
  bool IsNull(int row, int col) const;
  // bytea or text: the value's bytes, valid while the result lives.
  absl::string_view Bytes(int row, int col) const;
  int64_t Int64(int row, int col) const;  // bigint
  int32_t Int32(int row, int col) const;  // integer

 private:
  friend BinaryResult ExecBinary(pqxx::transaction_base&, const std::string&,
                                 const std::vector<std::string>&);
  friend std::vector<BinaryResult> ExecPipeline(pqxx::transaction_base&,
                                                const std::vector<PipelinedStatement>&);
  struct Clear {
    void operator()(pg_result* r) const;
  };
  explicit BinaryResult(pg_result* r) : result_(r) {}
  std::unique_ptr<pg_result, Clear> result_;
};

// Runs `sql` with text-format `params` ($1, $2, ...) on `tx`'s connection,
// which must be a pg::Connection (every Pool connection is), and returns its
// rows in binary format. Throws like libpqxx on failure.
BinaryResult ExecBinary(pqxx::transaction_base& tx, const std::string& sql,
                        const std::vector<std::string>& params);

// One statement of a pipeline: `sql` prepared as `name` (once per
// connection; names are ExecPipeline's own, apart from libpqxx's), run with
// `params`, in text format unless `binary` marks them (a bytea's bytes as
// they are, sent without hex-encoding).
struct PipelinedStatement {
  PipelinedStatement(std::string name, const std::string* sql,
                     std::vector<std::string> params = {}, std::vector<bool> binary = {})
      : name(std::move(name)),
        sql(sql),
        params(std::move(params)),
        binary(std::move(binary)) {}

  std::string name;
  const std::string* sql;
  std::vector<std::string> params;
  std::vector<bool> binary;  // per parameter; empty: all text
};

namespace internal {
// CommitStatement()'s SQL: a pipeline holding it may commit.
const std::string& CommitSql();
}  // namespace internal

// Sends `statements` in one round trip on `tx`'s connection (a
// pg::Connection), inside its transaction, and returns each one's rows in
// binary format, in order. The server still runs each after the one before
// it has finished, with its own snapshot: a statement may rely on what an
// earlier one did (a lock it took), though not on its rows. Throws like
// ExecBinary: the first statement that failed (the rest were skipped and the
// transaction is aborted), or pqxx::broken_connection; pqxx::in_doubt_error
// when the connection was lost after the pipeline's COMMIT
// (pg::CommitStatement) was sent, with no error before it and its answer
// unread. A connection it cannot bring back out of pipeline mode is closed
// (the pool replaces it). Inside a transaction (a pqxx::work): its Sync
// commits nothing. Every result is held in memory until the last arrives.
//
//   std::vector<pg::BinaryResult> r = pg::ExecPipeline(tx, {
//       {"lock", &kLockSql, {keys}}, {"read", &kReadSql, {ids}}});
std::vector<BinaryResult> ExecPipeline(pqxx::transaction_base& tx,
                                       const std::vector<PipelinedStatement>& statements);

}  // namespace meridian::pg

#endif  // MERIDIAN_LIBS_PG_CONNECTION_H_
