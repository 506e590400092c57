// The region's laboratory reference table: the analytes (LOINC) the platform
// knows, each with its kind, canonical unit, the units accepted for it and
// (where mass and molar concentrations both occur) its molar mass; and
// reference intervals with critical limits by LOINC code, sex and age band.
// Shipped as data (services/lab-results/data/*.tsv, described in its
// README), loaded and validated at start: a malformed table stops the
// service with a message naming the file, line and column.
#ifndef MERIDIAN_SERVICES_LAB_RESULTS_REFERENCE_H_
#define MERIDIAN_SERVICES_LAB_RESULTS_REFERENCE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "meridian/labs/v1/labs.pb.h"

namespace meridian::labs {


// "NNNNN-N": 1 to 5 digits (leading zeros allowed by syntax), a hyphen and
// the LOINC mod-10 check digit, which must match.
bool IsLoincCode(absl::string_view code);

// `value` in `from` expressed in `to`, for UCUM units of the same dimension
// (mass concentration g/L, g/dL, mg/dL, ...; molar concentration mol/L,
// mmol/L, ...; counts 10*9/L = 10*3/uL; U/L = IU/L; identical units), or
// between mass and molar concentration given `molar_mass` (g/mol). nullopt
// when they do not convert.
std::optional<double> ConvertUnit(double value, absl::string_view from, absl::string_view to,
                                  std::optional<double> molar_mass = std::nullopt);

struct Analyte {
  enum class Kind { kNumeric, kText, kCoded };
  std::string loinc;
  std::string name;
  Kind kind = Kind::kNumeric;
  std::string canonical_unit;  // empty unless numeric
  std::optional<double> molar_mass;
  // Accepted units (the canonical one among them); empty unless numeric.
  std::vector<std::string> units;
};

struct ReferenceInterval {
  std::string loinc;
  char sex = '*';  // 'M', 'F' or '*'
  int age_min = 0;    // years, inclusive
  int age_max = 200;  // years, exclusive
  // In the analyte's canonical unit.
  std::optional<double> low, high, critical_low, critical_high;
};

class ReferenceTable {
 public:
  static absl::StatusOr<ReferenceTable> Parse(absl::string_view analytes_tsv,
                                              absl::string_view ranges_tsv,
                                              absl::string_view analytes_name = "analytes.tsv",
                                              absl::string_view ranges_name = "ranges.tsv");
  // analytes.tsv and ranges.tsv from `dir`.
  static absl::StatusOr<ReferenceTable> LoadDir(const std::string& dir);

  // nullptr for a LOINC code the table does not know.
  const Analyte* Find(absl::string_view loinc) const;

  // The interval for `loinc` at `sex` and `age_years` (nullopt: unknown
  // age, which only an all-ages band matches); a sex-specific band before a
  // '*' one; nullptr when none applies.
  const ReferenceInterval* IntervalFor(absl::string_view loinc, v1::Sex sex,
                                       std::optional<int> age_years) const;

  size_t analyte_count() const { return analytes_.size(); }
  size_t interval_count() const;

 private:
  absl::flat_hash_map<std::string, Analyte> analytes_;
  absl::flat_hash_map<std::string, std::vector<ReferenceInterval>> intervals_;
};

}  // namespace meridian::labs

#endif  // MERIDIAN_SERVICES_LAB_RESULTS_REFERENCE_H_
