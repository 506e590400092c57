// The region's formulary: the drugs prescriptions may name and what the
// safety checks know about them (ATC code, duplicate-therapy class,
// antibiotic flag, maximum daily dose) and the interacting pairs. Shipped as
// data (services/prescriptions/data/*.tsv, described in its README), loaded
// and validated at start: a malformed table stops the service with a message
// naming the file, line and column.
#ifndef MERIDIAN_SERVICES_PRESCRIPTIONS_FORMULARY_H_
#define MERIDIAN_SERVICES_PRESCRIPTIONS_FORMULARY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "meridian/prescriptions/v1/prescriptions.pb.h"

namespace meridian::prescriptions {


struct Drug {
  std::string code;  // e.g. "J01CA04-C500"
  std::string name;
  std::string name_zh;
  std::string atc;  // 7 characters, e.g. "J01CA04"
  std::string form;
  double strength = 0;        // active ingredient per dispense unit ...
  std::string strength_unit;  // ... in mg, g, ug, IU, mL or mg/mL
  std::string dispense_unit;  // tablet, capsule, vial, ...
  std::string therapy_class;  // two at once: duplicate therapy
  bool antibiotic = false;
  double max_daily_dose = 0;  // adult maximum per day ...
  std::string max_daily_unit;  // ... in mg, ug or IU
};

struct Interaction {
  // A 7-character ATC code or a prefix of one (e.g. "M01A" for NSAIDs).
  std::string atc_a;
  std::string atc_b;
  v1::Severity severity = v1::SEVERITY_UNSPECIFIED;
  std::string description;
};

class Formulary {
 public:
  // Parses and validates the two tables (`*_name` label errors).
  static absl::StatusOr<Formulary> Parse(absl::string_view drugs_tsv,
                                         absl::string_view interactions_tsv,
                                         absl::string_view drugs_name = "drugs.tsv",
                                         absl::string_view interactions_name =
                                             "interactions.tsv");
  // drugs.tsv and interactions.tsv from `dir`.
  static absl::StatusOr<Formulary> LoadDir(const std::string& dir);

  // nullptr for a code not in the formulary.
  const Drug* Find(absl::string_view code) const;
  // The most severe interaction listed between the two ATC codes, or nullptr.
  const Interaction* InteractionOf(absl::string_view atc_a, absl::string_view atc_b) const;

  size_t drug_count() const { return drugs_.size(); }
  size_t interaction_count() const { return interactions_.size(); }

 private:
  absl::flat_hash_map<std::string, Drug> drugs_;
  std::vector<Interaction> interactions_;
};

}  // namespace meridian::prescriptions

#endif  // MERIDIAN_SERVICES_PRESCRIPTIONS_FORMULARY_H_
