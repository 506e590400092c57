// Bulk loading with COPY ... FROM STDIN (text format) inside a transaction.
//
//   pg::CopyWriter copy(tx, "record", {"organisation_id", "local_id", "body"});
//   for (const Row& r : rows) copy.Row(r.org, r.local_id, pg::Bytea{r.body});
//   copy.Complete();
//
// Fields: strings (escaped for COPY), integers, bool, pg::Bytea (binary data,
// sent as hex), std::optional<T> (no value sends NULL). Lines are encoded
// here, without libpqxx's per-field conversions: COPY is the hot path of bulk
// ingest. Throws what libpqxx throws (call it inside pg::Pool::Transact).
// Nothing else may run on the transaction until Complete().
#ifndef MERIDIAN_LIBS_PG_COPY_H_
#define MERIDIAN_LIBS_PG_COPY_H_

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "absl/strings/string_view.h"
#include "pqxx/pqxx"

namespace pqxx {
class tablewriter;
}  // namespace pqxx

namespace meridian::pg {

// Binary data for a bytea column.
struct Bytea {
  const std::string& data;
};

// The bytea hex form of binary data: "\x" followed by lower-case hex.
std::string ByteaHex(const std::string& data);

class CopyWriter {
 public:
  CopyWriter(pqxx::work& tx, const std::string& table,
             std::initializer_list<std::string> columns);
  ~CopyWriter();

  template <typename... Values>
  void Row(const Values&... values) {
    line_.clear();
    bool first = true;
    ((Separate(first), Append(values)), ...);
    WriteLine();
  }

  // Ends the COPY; throws if the server rejected any row.
  void Complete();

 private:
  void Separate(bool& first) {
    if (!first) line_.push_back('\t');
    first = false;
  }
  void Append(absl::string_view text);
  void Append(const std::string& text) { Append(absl::string_view(text)); }
  void Append(const char* text) { Append(absl::string_view(text)); }
  void Append(const Bytea& bytes);
  void Append(bool b) { line_.push_back(b ? 't' : 'f'); }
  template <typename T, typename = std::enable_if_t<std::is_integral_v<T>>>
  void Append(T n) {
    line_ += std::to_string(n);
  }
  template <typename T>
  void Append(const std::optional<T>& v) {
    if (v.has_value()) {
      Append(*v);
    } else {
      line_ += "\\N";
    }
  }
  void WriteLine();

  std::unique_ptr<pqxx::tablewriter> writer_;
  std::string line_;
};

}  // namespace meridian::pg

#endif  // MERIDIAN_LIBS_PG_COPY_H_
