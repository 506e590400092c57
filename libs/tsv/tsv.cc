#include "libs/tsv/tsv.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace meridian::tsv {

absl::StatusOr<std::vector<Row>> Parse(absl::string_view text, absl::string_view name,
                                       absl::string_view header) {
  std::vector<Row> rows;
  bool header_seen = false;
  const size_t columns = std::count(header.begin(), header.end(), '\t') + 1;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty() || absl::StartsWith(line, "#")) continue;
    if (!header_seen) {
      if (line != header) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ":", line_number, ": the header must be: ", header));
      }
      header_seen = true;
      continue;
    }
    Row row{line_number, absl::StrSplit(line, '\t')};
    if (row.fields.size() != columns) {
      return absl::InvalidArgumentError(absl::StrCat(name, ":", line_number, ": ",
                                                     row.fields.size(), " fields, expected ",
                                                     columns));
    }
    rows.push_back(std::move(row));
  }
  if (!header_seen) return absl::InvalidArgumentError(absl::StrCat(name, ": no header"));
  return rows;
}

absl::Status At(absl::string_view name, const Row& row, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(name, ":", row.line, ": ", status.message()));
}

absl::StatusOr<std::optional<double>> OptionalNumber(absl::string_view column,
                                                     absl::string_view field) {
  if (field == "-") return std::nullopt;
  double v = 0;
  if (!absl::SimpleAtod(field, &v) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat(column, ": not a number"));
  }
  return v;
}

}  // namespace meridian::tsv
