// Bulk loading with COPY ... FROM STDIN inside a transaction.
//
//   pg::CopyWriter copy(tx, "record", {"organisation_id", "local_id", "body"});
//   for (const Row& r : rows) copy.Row(r.org, r.local_id, pg::Bytea{r.body});
//   copy.Complete();
//
// Values are converted as libpqxx converts query parameters; pg::Bytea sends
// binary data, std::optional<T> without a value sends NULL. Throws what
// libpqxx throws (call it inside pg::Pool::Transact). Nothing else may run on
// the transaction until Complete().
#ifndef MERIDIAN_LIBS_PG_COPY_H_
#define MERIDIAN_LIBS_PG_COPY_H_

#include <initializer_list>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "pqxx/pqxx"

namespace meridian::pg {

// Binary data for a bytea column.
struct Bytea {
  std::string data;
};

// The COPY text form of binary data: "\x" followed by lower-case hex.
std::string ByteaHex(const std::string& data);

class CopyWriter {
 public:
  CopyWriter(pqxx::work& tx, const std::string& table,
             std::initializer_list<std::string> columns)
      : stream_(tx, table, std::vector<std::string>(columns)) {}

  template <typename... Values>
  void Row(const Values&... values) {
    stream_ << std::make_tuple(Convert(values)...);
  }

  // Ends the COPY; throws if the server rejected any row.
  void Complete() { stream_.complete(); }

 private:
  template <typename T>
  static const T& Convert(const T& value) {
    return value;
  }
  static std::string Convert(const Bytea& value) { return ByteaHex(value.data); }

  pqxx::stream_to stream_;
};

}  // namespace meridian::pg

#endif  // MERIDIAN_LIBS_PG_COPY_H_
