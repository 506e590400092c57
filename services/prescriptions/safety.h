// Safety checks at issue: duplicate therapy, interactions and doses above the
// formulary's maximum, for a new prescription's items against each other
// and against the patient's active prescriptions from every institution.
#ifndef MERIDIAN_SERVICES_PRESCRIPTIONS_SAFETY_H_
#define MERIDIAN_SERVICES_PRESCRIPTIONS_SAFETY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/prescriptions/formulary.h"

namespace meridian::prescriptions {

// A drug the patient is taking (an item of an active prescription).
struct ActiveDrug {
  std::string drug_code;
  bool other_institution = false;
};

// The daily amount of active ingredient an item gives, in the drug's
// max_daily_unit. INVALID_ARGUMENT naming "dose_unit" when the item's unit
// cannot be converted for this drug (the caller prefixes the item's field).
absl::StatusOr<double> DailyDose(const Drug& drug, const v1::PrescriptionItem& item);

// Every finding for `items` (each drug_code in `formulary`, each dose
// convertible), in item order: the dose, then the later items of the same
// prescription, then `active`.
std::vector<v1::SafetyFinding> CheckSafety(
    const Formulary& formulary,
    const google::protobuf::RepeatedPtrField<v1::PrescriptionItem>& items,
    const std::vector<ActiveDrug>& active);

}  // namespace meridian::prescriptions

#endif  // MERIDIAN_SERVICES_PRESCRIPTIONS_SAFETY_H_
