#include "services/lab-results/reference.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/config/config.h"
#include "libs/status/status_macros.h"
#include "libs/tsv/tsv.h"

namespace meridian::labs {
namespace {

constexpr char kAnalyteColumns[] = "loinc\tname\tkind\tcanonical_unit\tmolar_mass\tunits";
constexpr char kRangeColumns[] =
    "loinc\tsex\tage_min\tage_max\tlow\thigh\tcritical_low\tcritical_high";

enum class Dimension { kMass, kMolar, kCount, kEnzyme };

struct UnitInfo {
  Dimension dimension;
  double factor;  // to the dimension's base: g/L, mol/L, 1/L, U/L
};

// The convertible units; any other unit converts only to itself.
std::optional<UnitInfo> InfoOf(absl::string_view unit) {
  static const auto* const kUnits = new absl::flat_hash_map<std::string, UnitInfo>{
      {"g/L", {Dimension::kMass, 1}},        {"g/dL", {Dimension::kMass, 10}},
      {"mg/dL", {Dimension::kMass, 1e-2}},   {"mg/L", {Dimension::kMass, 1e-3}},
      {"mg/mL", {Dimension::kMass, 1}},      {"ug/mL", {Dimension::kMass, 1e-3}},
      {"ug/dL", {Dimension::kMass, 1e-5}},   {"ug/L", {Dimension::kMass, 1e-6}},
      {"ng/mL", {Dimension::kMass, 1e-6}},   {"ng/dL", {Dimension::kMass, 1e-8}},
      {"ng/L", {Dimension::kMass, 1e-9}},    {"pg/mL", {Dimension::kMass, 1e-9}},
      {"mol/L", {Dimension::kMolar, 1}},     {"mmol/L", {Dimension::kMolar, 1e-3}},
      {"umol/L", {Dimension::kMolar, 1e-6}}, {"nmol/L", {Dimension::kMolar, 1e-9}},
      {"pmol/L", {Dimension::kMolar, 1e-12}},
      {"10*9/L", {Dimension::kCount, 1e9}},  {"10*3/uL", {Dimension::kCount, 1e9}},
      {"10*12/L", {Dimension::kCount, 1e12}}, {"10*6/uL", {Dimension::kCount, 1e12}},
      {"U/L", {Dimension::kEnzyme, 1}},      {"IU/L", {Dimension::kEnzyme, 1}},
      {"ukat/L", {Dimension::kEnzyme, 60}},
  };
  auto it = kUnits->find(unit);
  if (it == kUnits->end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<Analyte> AnalyteOf(const std::vector<std::string>& f) {
  Analyte a;
  a.loinc = f[0];
  a.name = f[1];
  if (!IsLoincCode(a.loinc)) return absl::InvalidArgumentError("loinc: not a LOINC code");
  if (a.name.empty()) return absl::InvalidArgumentError("name: required");
  if (f[2] == "numeric") {
    a.kind = Analyte::Kind::kNumeric;
  } else if (f[2] == "text") {
    a.kind = Analyte::Kind::kText;
  } else if (f[2] == "coded") {
    a.kind = Analyte::Kind::kCoded;
  } else {
    return absl::InvalidArgumentError("kind: numeric, text or coded");
  }
  MERIDIAN_ASSIGN_OR_RETURN(a.molar_mass, tsv::OptionalNumber("molar_mass", f[4]));
  if (a.molar_mass && !(*a.molar_mass > 0)) {
    return absl::InvalidArgumentError("molar_mass: must be positive");
  }
  if (a.kind != Analyte::Kind::kNumeric) {
    if (f[3] != "-" || f[5] != "-") {
      return absl::InvalidArgumentError("canonical_unit: '-' unless numeric");
    }
    return a;
  }
  a.canonical_unit = f[3];
  if (a.canonical_unit.empty() || a.canonical_unit == "-") {
    return absl::InvalidArgumentError("canonical_unit: required for a numeric analyte");
  }
  a.units = absl::StrSplit(f[5], ',');
  bool has_canonical = false;
  for (const std::string& u : a.units) {
    has_canonical |= u == a.canonical_unit;
    if (!ConvertUnit(1, u, a.canonical_unit, a.molar_mass)) {
      return absl::InvalidArgumentError(
          absl::StrCat("units: ", u, " does not convert to ", a.canonical_unit));
    }
  }
  if (!has_canonical) return absl::InvalidArgumentError("units: must list canonical_unit");
  return a;
}

absl::StatusOr<ReferenceInterval> IntervalOf(const std::vector<std::string>& f) {
  ReferenceInterval r;
  r.loinc = f[0];
  if (f[1] != "M" && f[1] != "F" && f[1] != "*") {
    return absl::InvalidArgumentError("sex: M, F or *");
  }
  r.sex = f[1][0];
  if (!absl::SimpleAtoi(f[2], &r.age_min) || !absl::SimpleAtoi(f[3], &r.age_max) ||
      r.age_min < 0 || r.age_max > 200 || r.age_min >= r.age_max) {
    return absl::InvalidArgumentError("age_min, age_max: whole years, min < max <= 200");
  }
  MERIDIAN_ASSIGN_OR_RETURN(r.low, tsv::OptionalNumber("low", f[4]));
  MERIDIAN_ASSIGN_OR_RETURN(r.high, tsv::OptionalNumber("high", f[5]));
  MERIDIAN_ASSIGN_OR_RETURN(r.critical_low, tsv::OptionalNumber("critical_low", f[6]));
  MERIDIAN_ASSIGN_OR_RETURN(r.critical_high, tsv::OptionalNumber("critical_high", f[7]));
  if (r.low && r.high && *r.low >= *r.high) {
    return absl::InvalidArgumentError("low: not below high");
  }
  if (r.critical_low && r.low && *r.critical_low >= *r.low) {
    return absl::InvalidArgumentError("critical_low: not below low");
  }
  if (r.critical_high && r.high && *r.critical_high <= *r.high) {
    return absl::InvalidArgumentError("critical_high: not above high");
  }
  return r;
}

bool Overlap(const ReferenceInterval& a, const ReferenceInterval& b) {
  const bool sexes = a.sex == b.sex || a.sex == '*' || b.sex == '*';
  return sexes && a.age_min < b.age_max && b.age_min < a.age_max;
}

}  // namespace

bool IsLoincCode(absl::string_view code) {
  const size_t dash = code.find('-');
  if (dash == absl::string_view::npos || dash == 0 || dash > 5 || dash + 2 != code.size()) {
    return false;
  }
  for (size_t i = 0; i < code.size(); ++i) {
    if (i != dash && !absl::ascii_isdigit(code[i])) return false;
  }
  // Mod 10: from the right, every other digit (starting with the rightmost)
  // doubled, the digits of the products summed with the others.
  int sum = 0;
  bool doubled = true;
  for (size_t i = dash; i-- > 0;) {
    int d = code[i] - '0';
    if (doubled) {
      d *= 2;
      d = d / 10 + d % 10;
    }
    sum += d;
    doubled = !doubled;
  }
  return (10 - sum % 10) % 10 == code.back() - '0';
}

std::optional<double> ConvertUnit(double value, absl::string_view from, absl::string_view to,
                                  std::optional<double> molar_mass) {
  if (from == to) return value;
  std::optional<UnitInfo> f = InfoOf(from), t = InfoOf(to);
  if (!f || !t) return std::nullopt;
  double base = value * f->factor;
  if (f->dimension != t->dimension) {
    if (!molar_mass) return std::nullopt;
    if (f->dimension == Dimension::kMass && t->dimension == Dimension::kMolar) {
      base /= *molar_mass;  // g/L -> mol/L
    } else if (f->dimension == Dimension::kMolar && t->dimension == Dimension::kMass) {
      base *= *molar_mass;  // mol/L -> g/L
    } else {
      return std::nullopt;
    }
  }
  return base / t->factor;
}

absl::StatusOr<ReferenceTable> ReferenceTable::Parse(absl::string_view analytes_tsv,
                                                     absl::string_view ranges_tsv,
                                                     absl::string_view analytes_name,
                                                     absl::string_view ranges_name) {
  ReferenceTable t;
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<tsv::Row> analytes,
                            tsv::Parse(analytes_tsv, analytes_name, kAnalyteColumns));
  for (const tsv::Row& row : analytes) {
    absl::StatusOr<Analyte> a = AnalyteOf(row.fields);
    if (!a.ok()) return tsv::At(analytes_name, row, a.status());
    if (t.analytes_.contains(a->loinc)) {
      return tsv::At(analytes_name, row, absl::InvalidArgumentError("loinc: listed twice"));
    }
    t.analytes_.emplace(a->loinc, *std::move(a));
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<tsv::Row> ranges,
                            tsv::Parse(ranges_tsv, ranges_name, kRangeColumns));
  for (const tsv::Row& row : ranges) {
    absl::StatusOr<ReferenceInterval> r = IntervalOf(row.fields);
    if (!r.ok()) return tsv::At(ranges_name, row, r.status());
    const Analyte* a = t.Find(r->loinc);
    if (a == nullptr || a->kind != Analyte::Kind::kNumeric) {
      return tsv::At(ranges_name, row,
                     absl::InvalidArgumentError("loinc: not a numeric analyte of analytes.tsv"));
    }
    std::vector<ReferenceInterval>& bands = t.intervals_[r->loinc];
    for (const ReferenceInterval& other : bands) {
      if (Overlap(other, *r)) {
        return tsv::At(ranges_name, row,
                       absl::InvalidArgumentError("overlaps an earlier band of this code"));
      }
    }
    bands.push_back(*std::move(r));
  }
  return t;
}

absl::StatusOr<ReferenceTable> ReferenceTable::LoadDir(const std::string& dir) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string analytes, config::ReadFile(dir + "/analytes.tsv"));
  MERIDIAN_ASSIGN_OR_RETURN(std::string ranges, config::ReadFile(dir + "/ranges.tsv"));
  return Parse(analytes, ranges, dir + "/analytes.tsv", dir + "/ranges.tsv");
}

const Analyte* ReferenceTable::Find(absl::string_view loinc) const {
  auto it = analytes_.find(loinc);
  return it == analytes_.end() ? nullptr : &it->second;
}

const ReferenceInterval* ReferenceTable::IntervalFor(absl::string_view loinc, v1::Sex sex,
                                                     std::optional<int> age_years) const {
  auto it = intervals_.find(loinc);
  if (it == intervals_.end()) return nullptr;
  const char s = sex == v1::MALE ? 'M' : sex == v1::FEMALE ? 'F' : '?';
  const ReferenceInterval* any_sex = nullptr;
  for (const ReferenceInterval& r : it->second) {
    const bool ages = age_years ? (r.age_min <= *age_years && *age_years < r.age_max)
                                : (r.age_min == 0 && r.age_max >= 200);
    if (!ages) continue;
    if (r.sex == s) return &r;
    if (r.sex == '*') any_sex = &r;
  }
  return any_sex;
}

size_t ReferenceTable::interval_count() const {
  size_t n = 0;
  for (const auto& [loinc, bands] : intervals_) n += bands.size();
  return n;
}

}  // namespace meridian::labs
