#include "libs/pg/copy.h"

#include <vector>

#include "pqxx/tablewriter"

namespace meridian::pg {
namespace {

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

std::string ByteaHex(const std::string& data) {
  std::string out;
  out.resize(2 + 2 * data.size());
  out[0] = '\\';
  out[1] = 'x';
  size_t i = 2;
  for (unsigned char c : data) {
    out[i++] = kHex[c >> 4];
    out[i++] = kHex[c & 0xf];
  }
  return out;
}

// pqxx::tablewriter is deprecated in libpqxx 6.4 in favour of stream_to, but
// it is the one that accepts a line encoded by the caller.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
CopyWriter::CopyWriter(pqxx::work& tx, const std::string& table,
                       std::initializer_list<std::string> columns) {
  std::vector<std::string> cols(columns);
  writer_ = std::make_unique<pqxx::tablewriter>(tx, table, cols.begin(), cols.end());
  line_.reserve(1024);
}
#pragma GCC diagnostic pop

CopyWriter::~CopyWriter() = default;

void CopyWriter::Append(absl::string_view text) {
  for (char c : text) {
    switch (c) {
      case '\\': line_ += "\\\\"; break;
      case '\t': line_ += "\\t"; break;
      case '\n': line_ += "\\n"; break;
      case '\r': line_ += "\\r"; break;
      default: line_.push_back(c);
    }
  }
}

void CopyWriter::Append(const Bytea& bytes) {
  // The hex form's backslash, escaped for COPY's text format.
  const size_t at = line_.size();
  line_.resize(at + 3 + 2 * bytes.data.size());
  char* out = line_.data() + at;
  *out++ = '\\';
  *out++ = '\\';
  *out++ = 'x';
  for (unsigned char c : bytes.data) {
    *out++ = kHex[c >> 4];
    *out++ = kHex[c & 0xf];
  }
}

void CopyWriter::WriteLine() { writer_->write_raw_line(line_); }

void CopyWriter::Complete() { writer_->complete(); }

}  // namespace meridian::pg
