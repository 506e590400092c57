// Reference tables shipped as data (the formulary, the laboratory reference
// table): UTF-8, tab-separated, no quoting, `#` comment lines and blank
// lines anywhere, the first other line a fixed header. Errors name the file
// and line ("drugs.tsv:12: 11 fields, expected 12") so a bad table stops a
// service with a message that says where.
//
//   MERIDIAN_ASSIGN_OR_RETURN(std::vector<tsv::Row> rows,
//                             tsv::Parse(text, "drugs.tsv", "code\tname\tatc"));
//   for (const tsv::Row& r : rows) {
//     if (bad(r.fields[2])) return tsv::At("drugs.tsv", r, Invalid("atc: ..."));
//   }
#ifndef MERIDIAN_LIBS_TSV_TSV_H_
#define MERIDIAN_LIBS_TSV_TSV_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace meridian::tsv {

struct Row {
  int line = 0;  // 1-based line number in the file
  std::vector<std::string> fields;
};

// The data rows of `text`, each with as many fields as `header` has
// columns. INVALID_ARGUMENT "name:line: ..." for a missing or different
// header or a row with the wrong number of fields.
absl::StatusOr<std::vector<Row>> Parse(absl::string_view text, absl::string_view name,
                                       absl::string_view header);

// `status` with "name:line: " before its message.
absl::Status At(absl::string_view name, const Row& row, const absl::Status& status);

// A number, or nullopt for "-" (none); INVALID_ARGUMENT "column: ..." for
// anything else that is not a finite number.
absl::StatusOr<std::optional<double>> OptionalNumber(absl::string_view column,
                                                     absl::string_view field);

}  // namespace meridian::tsv

#endif  // MERIDIAN_LIBS_TSV_TSV_H_
