#include "libs/pg/sql.h"

#include <array>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace meridian::pg {
namespace {

constexpr uint8_t kNotHex = 0xff;

constexpr std::array<uint8_t, 256> HexValues() {
  std::array<uint8_t, 256> v{};
  for (auto& x : v) x = kNotHex;
  for (int c = '0'; c <= '9'; ++c) v[c] = static_cast<uint8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) v[c] = static_cast<uint8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) v[c] = static_cast<uint8_t>(c - 'A' + 10);
  return v;
}

constexpr std::array<uint8_t, 256> kHexValue = HexValues();

}  // namespace

std::string ReadBytea(const pqxx::field& field) {
  if (field.is_null()) return {};
  const auto* text = reinterpret_cast<const unsigned char*>(field.c_str());
  const size_t size = field.size();
  if (size < 2 || text[0] != '\\' || text[1] != 'x' || size % 2 != 0) {
    return pqxx::binarystring(field).str();
  }
  std::string out((size - 2) / 2, '\0');
  const unsigned char* in = text + 2;
  for (char& byte : out) {
    const uint8_t hi = kHexValue[in[0]];
    const uint8_t lo = kHexValue[in[1]];
    if (hi == kNotHex || lo == kNotHex) {
      return pqxx::binarystring(field).str();
    }
    byte = static_cast<char>(hi << 4 | lo);
    in += 2;
  }
  return out;
}

std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

std::string Int64Array(absl::Span<const int64_t> values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

std::string TimestampLiteral(absl::Time t) {
  if (t == absl::InfinitePast()) return "-infinity";
  if (t == absl::InfiniteFuture()) return "infinity";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

void PreferIndexLookups(pqxx::work& tx) {
  tx.exec(
      "SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off;"
      " SET LOCAL enable_mergejoin = off");
}

std::string MicrosOf(const std::string& column) {
  return "(extract(epoch FROM " + column + ") * 1000000)::bigint";
}

}  // namespace meridian::pg
