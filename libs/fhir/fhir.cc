#include "libs/fhir/fhir.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "libs/timestamps/timestamps.h"

namespace meridian::fhir {

using nlohmann::json;

absl::StatusOr<google::protobuf::Timestamp> ParseTime(const json& value,
                                                      absl::string_view element) {
  auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat(element, ": not a FHIR date or dateTime"));
  };
  if (!value.is_string()) return invalid();
  const std::string s = value.get<std::string>();
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, s, &t, &err) &&
      !absl::ParseTime("%Y-%m-%d", s, absl::UTCTimeZone(), &t, &err) &&
      !absl::ParseTime("%Y-%m", s, absl::UTCTimeZone(), &t, &err) &&
      !absl::ParseTime("%Y", s, absl::UTCTimeZone(), &t, &err)) {
    return invalid();
  }
  if (!timestamps::IsValid(t)) return invalid();
  return timestamps::ToProto(t);
}

std::optional<std::string> CodeIn(const json& codeable, absl::string_view system) {
  if (!codeable.is_object() || !codeable.contains("coding") || !codeable["coding"].is_array()) {
    return std::nullopt;
  }
  for (const json& c : codeable["coding"]) {
    if (c.is_object() && c.value("system", "") == system && c.contains("code") &&
        c["code"].is_string()) {
      return c["code"].get<std::string>();
    }
  }
  return std::nullopt;
}

std::string TextOf(const json& codeable) {
  if (!codeable.is_object()) return "";
  if (codeable.contains("text") && codeable["text"].is_string()) {
    return codeable["text"].get<std::string>();
  }
  if (codeable.contains("coding") && codeable["coding"].is_array()) {
    for (const json& c : codeable["coding"]) {
      if (c.is_object() && c.contains("display") && c["display"].is_string()) {
        return c["display"].get<std::string>();
      }
    }
  }
  return "";
}

bool IsId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

std::optional<TypeAndId> SplitReference(absl::string_view reference) {
  if (reference.empty() || reference[0] == '#' || absl::StartsWith(reference, "urn:")) {
    return std::nullopt;
  }
  std::vector<absl::string_view> parts = absl::StrSplit(reference, '/');
  // .../Type/id/_history/version
  if (parts.size() >= 4 && parts[parts.size() - 2] == "_history") {
    parts.resize(parts.size() - 2);
  }
  if (parts.size() < 2) return std::nullopt;
  absl::string_view type = parts[parts.size() - 2];
  absl::string_view id = parts.back();
  if (type.empty() || !absl::ascii_isupper(type[0]) || !IsId(id)) return std::nullopt;
  for (char c : type) {
    if (!absl::ascii_isalpha(c)) return std::nullopt;
  }
  return TypeAndId{std::string(type), std::string(id)};
}

}  // namespace meridian::fhir
