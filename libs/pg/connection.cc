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
    : pqxx::connection_base(policy_), policy_(options, &handle_) {
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

BinaryResult ExecBinary(pqxx::transaction_base& tx, const std::string& sql,
                        const std::vector<std::string>& params) {
  Connection* conn = nullptr;
  {
    Registry& r = Connections();
    absl::MutexLock lock(&r.mu);
    if (!r.live.contains(&tx.conn())) {
      throw pqxx::usage_error("pg::ExecBinary needs a pg::Connection");
    }
    conn = static_cast<Connection*>(&tx.conn());
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) values.push_back(p.c_str());
  BinaryResult result(PQexecParams(conn->handle(), sql.c_str(),
                                   static_cast<int>(values.size()), nullptr,
                                   values.data(), nullptr, nullptr, /*resultFormat=*/1));
  pg_result* r = result.result_.get();
  if (r != nullptr && PQresultStatus(r) == PGRES_TUPLES_OK) return result;
  if (r == nullptr || PQstatus(conn->handle()) != CONNECTION_OK) {
    throw pqxx::broken_connection(
        std::string("postgres: connection lost: ") + PQerrorMessage(conn->handle()));
  }
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  throw pqxx::sql_error(PQresultErrorMessage(r), sql, state != nullptr ? state : "");
}

}  // namespace meridian::pg
