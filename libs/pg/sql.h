// Small SQL value helpers for libpqxx 6.4, which has no array parameters.
#ifndef MERIDIAN_LIBS_PG_SQL_H_
#define MERIDIAN_LIBS_PG_SQL_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pqxx/pqxx"

namespace meridian::pg {

// A PostgreSQL array literal of text values, for a `$n::text[]` parameter:
// {"a","b \"quoted\""}. Every element is quoted and escaped.
std::string TextArray(const std::vector<std::string>& values);

// A PostgreSQL array literal of integers, for a `$n::bigint[]` parameter.
std::string Int64Array(absl::Span<const int64_t> values);

// A timestamptz literal for a parameter or a COPY field, in UTC with
// microseconds: "2024-03-01 08:30:00.000000+00"; "-infinity" and "infinity"
// for absl::InfinitePast() and absl::InfiniteFuture().
std::string TimestampLiteral(absl::Time t);

// Select `column` as microseconds since the epoch (exact) with this SQL
// fragment; read it back with absl::FromUnixMicros.
std::string MicrosOf(const std::string& column);

// For the rest of the transaction, plans joins of a short key list against a
// big table as index lookups (no sequential scans, hash or merge joins).
// Statistics lag behind bulk loads: a table analysed while nearly empty is
// otherwise scanned whole for every batch of keys, and ingest becomes
// quadratic.
void PreferIndexLookups(pqxx::work& tx);

// The bytes of a bytea field. The hex output format (PostgreSQL's default,
// "\x0a1b...") is decoded with a table, several times faster than libpq's
// PQunescapeBytea, which matters for the outbox relay's megabytes per batch;
// the legacy escape format falls back to pqxx::binarystring. NULL gives "".
std::string ReadBytea(const pqxx::field& field);

// Runs `sql` as the prepared statement `name` on the transaction's
// connection, preparing it there on first use (each pooled connection keeps
// its own), so hot statements are parsed and planned once per connection.
// One name must always go with the same SQL.
template <typename Txn, typename... Args>
pqxx::result ExecPrepared(Txn& tx, const std::string& name, const std::string& sql,
                          Args&&... args) {
  tx.conn().prepare(name, sql);
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

}  // namespace meridian::pg

#endif  // MERIDIAN_LIBS_PG_SQL_H_
