#include "services/prescriptions/formulary.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/config/config.h"
#include "libs/status/status_macros.h"
#include "libs/tsv/tsv.h"

namespace meridian::prescriptions {
namespace {

constexpr char kDrugColumns[] =
    "code\tname\tname_zh\tatc\tform\tstrength\tstrength_unit\tdispense_unit\t"
    "therapy_class\tantibiotic\tmax_daily_dose\tmax_daily_unit";
constexpr char kInteractionColumns[] = "atc_a\tatc_b\tseverity\tdescription";

bool IsAtc(absl::string_view s) {
  // L NN L L NN, e.g. J01CA04.
  if (s.size() != 7) return false;
  for (size_t i = 0; i < 7; ++i) {
    const bool letter = i == 0 || i == 3 || i == 4;
    if (letter ? !absl::ascii_isupper(s[i]) : !absl::ascii_isdigit(s[i])) return false;
  }
  return true;
}

// An ATC code or one of its level prefixes (1, 3, 4, 5 or 7 characters).
bool IsAtcPrefix(absl::string_view s) {
  if (s.size() != 1 && s.size() != 3 && s.size() != 4 && s.size() != 5 && s.size() != 7) {
    return false;
  }
  const std::string padded = absl::StrCat(s, std::string("A00AA00").substr(s.size()));
  return IsAtc(padded);
}

bool IsCode(absl::string_view s) {
  if (s.size() < 9 || s.size() > 32 || !IsAtc(s.substr(0, 7)) || s[7] != '-') return false;
  for (char c : s.substr(8)) {
    if (!absl::ascii_isupper(c) && !absl::ascii_isdigit(c)) return false;
  }
  return true;
}

const std::set<std::string>& Forms() {
  static const auto* const kForms = new std::set<std::string>{
      "tablet", "capsule", "injection", "oral_solution", "inhaler", "cream",
      "drops",  "suppository", "patch", "granules"};
  return *kForms;
}

absl::StatusOr<v1::Severity> SeverityOf(absl::string_view s) {
  if (s == "minor") return v1::MINOR;
  if (s == "moderate") return v1::MODERATE;
  if (s == "major") return v1::MAJOR;
  if (s == "contraindicated") return v1::CONTRAINDICATED;
  return absl::InvalidArgumentError("severity: one of minor, moderate, major, contraindicated");
}

absl::StatusOr<Drug> DrugOf(const std::vector<std::string>& f) {
  Drug d;
  d.code = f[0];
  d.name = f[1];
  d.name_zh = f[2];
  d.atc = f[3];
  d.form = f[4];
  d.strength_unit = f[6];
  d.dispense_unit = f[7];
  d.therapy_class = f[8];
  d.max_daily_unit = f[11];
  for (const auto* s : {&d.code, &d.name, &d.name_zh, &d.form, &d.strength_unit,
                        &d.dispense_unit, &d.therapy_class, &d.max_daily_unit}) {
    if (s->empty()) return absl::InvalidArgumentError("a required field is empty");
  }
  if (!IsAtc(d.atc)) return absl::InvalidArgumentError("atc: not a 7-character ATC code");
  if (!IsCode(d.code) || !absl::StartsWith(d.code, d.atc)) {
    return absl::InvalidArgumentError("code: must be the ATC code, '-', and [A-Z0-9]+");
  }
  if (!Forms().contains(d.form)) return absl::InvalidArgumentError("form: unknown");
  if (!absl::SimpleAtod(f[5], &d.strength) || !(d.strength > 0) ||
      !std::isfinite(d.strength)) {
    return absl::InvalidArgumentError("strength: must be a positive number");
  }
  if (f[9] != "true" && f[9] != "false") {
    return absl::InvalidArgumentError("antibiotic: true or false");
  }
  d.antibiotic = f[9] == "true";
  if (!absl::SimpleAtod(f[10], &d.max_daily_dose) || !(d.max_daily_dose > 0) ||
      !std::isfinite(d.max_daily_dose)) {
    return absl::InvalidArgumentError("max_daily_dose: must be a positive number");
  }
  if (d.max_daily_unit != "mg" && d.max_daily_unit != "ug" && d.max_daily_unit != "IU") {
    return absl::InvalidArgumentError("max_daily_unit: mg, ug or IU");
  }
  static const auto* const kStrengthUnits =
      new std::set<std::string>{"mg", "g", "ug", "IU", "mL", "mg/mL"};
  if (!kStrengthUnits->contains(d.strength_unit)) {
    return absl::InvalidArgumentError("strength_unit: mg, g, ug, IU, mL or mg/mL");
  }
  return d;
}

}  // namespace

absl::StatusOr<Formulary> Formulary::Parse(absl::string_view drugs_tsv,
                                           absl::string_view interactions_tsv,
                                           absl::string_view drugs_name,
                                           absl::string_view interactions_name) {
  Formulary f;
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<tsv::Row> drugs,
                            tsv::Parse(drugs_tsv, drugs_name, kDrugColumns));
  for (const tsv::Row& row : drugs) {
    absl::StatusOr<Drug> d = DrugOf(row.fields);
    if (!d.ok()) return tsv::At(drugs_name, row, d.status());
    if (f.drugs_.contains(d->code)) {
      return tsv::At(drugs_name, row, absl::InvalidArgumentError("code: listed twice"));
    }
    f.drugs_.emplace(d->code, *std::move(d));
  }
  if (f.drugs_.empty()) return absl::InvalidArgumentError(absl::StrCat(drugs_name, ": no drugs"));
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<tsv::Row> pairs,
                            tsv::Parse(interactions_tsv, interactions_name, kInteractionColumns));
  std::set<std::pair<std::string, std::string>> seen;
  for (const tsv::Row& row : pairs) {
    Interaction i{row.fields[0], row.fields[1], v1::SEVERITY_UNSPECIFIED, row.fields[3]};
    for (const std::string* atc : {&i.atc_a, &i.atc_b}) {
      const char* column = atc == &i.atc_a ? "atc_a" : "atc_b";
      if (!IsAtcPrefix(*atc)) {
        return tsv::At(interactions_name, row,
                  absl::InvalidArgumentError(absl::StrCat(column, ": not an ATC code or prefix")));
      }
      bool matches = false;
      for (const auto& [code, drug] : f.drugs_) matches |= absl::StartsWith(drug.atc, *atc);
      if (!matches) {
        return tsv::At(interactions_name, row,
                  absl::InvalidArgumentError(
                      absl::StrCat(column, ": matches no drug of the formulary")));
      }
    }
    absl::StatusOr<v1::Severity> severity = SeverityOf(row.fields[2]);
    if (!severity.ok()) return tsv::At(interactions_name, row, severity.status());
    i.severity = *severity;
    if (i.description.empty()) {
      return tsv::At(interactions_name, row,
                absl::InvalidArgumentError("description: required"));
    }
    if (!seen.insert(std::minmax(i.atc_a, i.atc_b)).second) {
      return tsv::At(interactions_name, row,
                absl::InvalidArgumentError("this pair is listed twice"));
    }
    f.interactions_.push_back(std::move(i));
  }
  return f;
}

absl::StatusOr<Formulary> Formulary::LoadDir(const std::string& dir) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string drugs, config::ReadFile(dir + "/drugs.tsv"));
  MERIDIAN_ASSIGN_OR_RETURN(std::string interactions,
                            config::ReadFile(dir + "/interactions.tsv"));
  return Parse(drugs, interactions, dir + "/drugs.tsv", dir + "/interactions.tsv");
}

const Drug* Formulary::Find(absl::string_view code) const {
  auto it = drugs_.find(code);
  return it == drugs_.end() ? nullptr : &it->second;
}

const Interaction* Formulary::InteractionOf(absl::string_view atc_a,
                                            absl::string_view atc_b) const {
  const Interaction* worst = nullptr;
  for (const Interaction& i : interactions_) {
    const bool forward = absl::StartsWith(atc_a, i.atc_a) && absl::StartsWith(atc_b, i.atc_b);
    const bool backward = absl::StartsWith(atc_a, i.atc_b) && absl::StartsWith(atc_b, i.atc_a);
    if ((forward || backward) && (worst == nullptr || i.severity > worst->severity)) {
      worst = &i;
    }
  }
  return worst;
}

}  // namespace meridian::prescriptions
