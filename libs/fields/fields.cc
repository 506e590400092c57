#include "libs/fields/fields.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/timestamps/timestamps.h"

namespace meridian::fields {

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status CheckLocalId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return Invalid(field, "required");
  if (!IsValidLocalId(id)) {
    return Invalid(field, "must be 1-64 printable ASCII characters without spaces");
  }
  return absl::OkStatus();
}

absl::Status CheckText(absl::string_view field, absl::string_view text, size_t max) {
  if (text.size() > max) {
    return Invalid(field, absl::StrCat("longer than ", max, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckTime(absl::string_view field, bool present, const google::protobuf::Timestamp& t,
                       absl::Time now, bool required) {
  if (!present) return required ? Invalid(field, "required") : absl::OkStatus();
  if (!timestamps::IsValid(t)) {
    return Invalid(field, "not a valid timestamp");
  }
  absl::Time time = timestamps::FromProto(t);
  if (time < absl::FromCivil(absl::CivilDay(1900, 1, 1), absl::UTCTimeZone())) {
    return Invalid(field, "before 1900");
  }
  if (time > now + kMaxClockSkew) return Invalid(field, "in the future");
  return absl::OkStatus();
}

bool IsIcd10Code(absl::string_view code) {
  // Category: a capital letter and two digits.
  if (code.size() < 3 || !absl::ascii_isupper(code[0]) ||
      !absl::ascii_isdigit(code[1]) || !absl::ascii_isdigit(code[2])) {
    return false;
  }
  if (code.size() == 3) return true;
  if (code[3] != '.') return false;
  absl::string_view sub = code.substr(4);
  // National clinical extension: 'x' and three digits at the end.
  if (sub.size() > 4 && sub[sub.size() - 4] == 'x' &&
      absl::ascii_isdigit(sub[sub.size() - 3]) &&
      absl::ascii_isdigit(sub[sub.size() - 2]) &&
      absl::ascii_isdigit(sub.back())) {
    sub.remove_suffix(4);
  }
  // Subcategory: 1-4 digits or capitals; the national placeholder 'x' only
  // first ("I10.x00").
  if (sub.empty() || sub.size() > 4) return false;
  for (size_t i = 0; i < sub.size(); ++i) {
    const char c = sub[i];
    if (!absl::ascii_isdigit(c) && !absl::ascii_isupper(c) && !(c == 'x' && i == 0)) {
      return false;
    }
  }
  return true;
}

bool IsValidLocalId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

std::string EncodePageToken(absl::Time time, const std::vector<std::string>& keys) {
  std::string raw = absl::StrCat("p1\n", absl::ToUnixMicros(time));
  for (const std::string& k : keys) absl::StrAppend(&raw, "\n", k);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<PageKey> DecodePageToken(absl::string_view token, size_t key_count) {
  const absl::Status bad = Invalid("page_token", "not a token this service issued");
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return bad;
  std::vector<std::string> parts = absl::StrSplit(raw, '\n');
  int64_t micros = 0;
  if (parts.size() != key_count + 2 || parts[0] != "p1" || !absl::SimpleAtoi(parts[1], &micros) ||
      !timestamps::IsValid(absl::FromUnixMicros(micros))) {
    return bad;
  }
  PageKey key{absl::FromUnixMicros(micros), {parts.begin() + 2, parts.end()}};
  for (const std::string& k : key.keys) {
    if (k.empty()) return bad;
  }
  return key;
}

// By hand: the general civil-time parser and formatter cost more than the
// rest of a field's treatment in the privacy guard's hot path.
std::optional<absl::CivilDay> ParseDate(absl::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  int v[3] = {0, 0, 0};
  const int starts[3] = {0, 5, 8}, lengths[3] = {4, 2, 2};
  for (int part = 0; part < 3; ++part) {
    for (int i = 0; i < lengths[part]; ++i) {
      const char c = s[starts[part] + i];
      if (c < '0' || c > '9') return std::nullopt;
      v[part] = v[part] * 10 + (c - '0');
    }
  }
  const absl::CivilDay day(v[0], v[1], v[2]);
  if (day.year() != v[0] || day.month() != v[1] || day.day() != v[2]) return std::nullopt;
  return day;
}

}  // namespace meridian::fields
