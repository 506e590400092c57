#include "services/prescriptions/safety.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meridian::prescriptions {
namespace {

// Micrograms per unit of mass.
std::optional<double> MassInUg(absl::string_view unit) {
  if (unit == "g") return 1e6;
  if (unit == "mg") return 1e3;
  if (unit == "ug" || unit == "mcg") return 1;
  return std::nullopt;
}

// `amount` of `from` in `to` (mass to mass, IU to IU), or nullopt.
std::optional<double> Convert(double amount, absl::string_view from, absl::string_view to) {
  if (from == to) return amount;
  std::optional<double> f = MassInUg(from), t = MassInUg(to);
  if (f && t) return amount * *f / *t;
  return std::nullopt;
}

double DosesPerDay(const v1::PrescriptionItem& item) {
  switch (item.frequency()) {
    case v1::ONCE:
    case v1::QD:
    case v1::QN:
    case v1::QW:  // a weekly dose is taken whole on one day
      return 1;
    case v1::BID:
    case v1::Q12H:
      return 2;
    case v1::TID:
    case v1::Q8H:
      return 3;
    case v1::QID:
    case v1::Q6H:
      return 4;
    case v1::PRN:
      return item.prn_max_doses_per_day();
    default:
      return 0;
  }
}

v1::SafetyFinding Finding(v1::FindingKind kind, v1::Severity severity, int item_index,
                          const Drug& drug, const Drug* other, bool other_institution,
                          std::string message) {
  v1::SafetyFinding f;
  const char* prefix = kind == v1::DUPLICATE_THERAPY ? "duplicate"
                       : kind == v1::INTERACTION     ? "interaction"
                                                     : "dose";
  f.set_id(other == nullptr ? absl::StrCat(prefix, ":", item_index, ":", drug.code)
                            : absl::StrCat(prefix, ":", drug.code, "+", other->code));
  f.set_kind(kind);
  f.set_severity(severity);
  f.set_item_index(item_index);
  if (other != nullptr) {
    f.set_other_drug_code(other->code);
    f.set_other_atc_code(other->atc);
    f.set_other_institution(other_institution);
  }
  f.set_message(std::move(message));
  return f;
}

// Findings between `drug` (item `index`) and `other`, found `where`.
void CheckPair(const Formulary& formulary, int index, const Drug& drug, const Drug& other,
               bool other_institution, absl::string_view where,
               std::vector<v1::SafetyFinding>* out) {
  if (drug.therapy_class == other.therapy_class) {
    out->push_back(Finding(v1::DUPLICATE_THERAPY, v1::MODERATE, index, drug, &other,
                           other_institution,
                           absl::StrCat(drug.name, " duplicates ", other.name, " (",
                                        drug.therapy_class, ") ", where)));
  }
  if (const Interaction* i = formulary.InteractionOf(drug.atc, other.atc)) {
    out->push_back(Finding(v1::INTERACTION, i->severity, index, drug, &other, other_institution,
                           absl::StrCat(drug.name, " with ", other.name, " ", where, ": ",
                                        i->description)));
  }
}

}  // namespace

absl::StatusOr<double> DailyDose(const Drug& drug, const v1::PrescriptionItem& item) {
  const std::string& unit = item.dose_unit();
  std::optional<double> amount;
  std::string amount_unit;
  if (unit == drug.dispense_unit && drug.strength_unit != "mg/mL" &&
      drug.strength_unit != "mL") {
    amount = item.dose() * drug.strength;  // e.g. 2 tablets of 500 mg
    amount_unit = drug.strength_unit;
  } else if (unit == "mL" && drug.strength_unit == "mg/mL") {
    amount = item.dose() * drug.strength;
    amount_unit = "mg";
  } else if (unit != "mL") {
    amount = item.dose();
    amount_unit = unit;
  }
  std::optional<double> in_max_unit;
  if (amount) in_max_unit = Convert(*amount, amount_unit, drug.max_daily_unit);
  if (!in_max_unit) {
    return absl::InvalidArgumentError(
        absl::StrCat("dose_unit: cannot be converted for this drug (use ",
                     drug.max_daily_unit, ", another unit of mass, or ", drug.dispense_unit,
                     ")"));
  }
  return *in_max_unit * DosesPerDay(item);
}

std::vector<v1::SafetyFinding> CheckSafety(
    const Formulary& formulary,
    const google::protobuf::RepeatedPtrField<v1::PrescriptionItem>& items,
    const std::vector<ActiveDrug>& active) {
  std::vector<v1::SafetyFinding> out;
  for (int i = 0; i < items.size(); ++i) {
    const Drug* drug = formulary.Find(items[i].drug_code());
    if (drug == nullptr) continue;  // validation refused it already
    absl::StatusOr<double> daily = DailyDose(*drug, items[i]);
    if (daily.ok() && *daily > drug->max_daily_dose * (1 + 1e-9)) {
      out.push_back(Finding(
          v1::DOSE_ABOVE_MAXIMUM, *daily > 2 * drug->max_daily_dose ? v1::MAJOR : v1::MODERATE,
          i, *drug, nullptr, false,
          absl::StrFormat("%s: %.4g %s a day is above the maximum of %.4g %s", drug->name,
                          *daily, drug->max_daily_unit, drug->max_daily_dose,
                          drug->max_daily_unit)));
    }
    for (int j = i + 1; j < items.size(); ++j) {
      const Drug* other = formulary.Find(items[j].drug_code());
      if (other == nullptr) continue;
      CheckPair(formulary, i, *drug, *other, false, "in the same prescription", &out);
    }
    for (const ActiveDrug& a : active) {
      const Drug* other = formulary.Find(a.drug_code);
      if (other == nullptr) continue;
      CheckPair(formulary, i, *drug, *other, a.other_institution,
                a.other_institution ? "on an active prescription from another institution"
                                    : "on an active prescription of this institution",
                &out);
    }
  }
  return out;
}

}  // namespace meridian::prescriptions
