// Small pieces of FHIR R4 JSON shared by the consent service's Consent
// import and tools/fhir's importer: dates and times, codings, references.
#ifndef MERIDIAN_LIBS_FHIR_FHIR_H_
#define MERIDIAN_LIBS_FHIR_FHIR_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"

namespace meridian::fhir {

// A FHIR instant, dateTime or date ("2016-05-11T10:00:00+08:00",
// "2016-05-11", "2016-05", "2016"; the partial forms at their start, UTC).
// INVALID_ARGUMENT "<element>: not a FHIR date or dateTime" otherwise.
absl::StatusOr<google::protobuf::Timestamp> ParseTime(const nlohmann::json& value,
                                                      absl::string_view element);

// The code of the first coding of `codeable` (a CodeableConcept) in `system`,
// or nullopt.
std::optional<std::string> CodeIn(const nlohmann::json& codeable, absl::string_view system);

// The codeable's text, else its first coding's display, else "".
std::string TextOf(const nlohmann::json& codeable);

// A reference's target as "Type/id" when it has that shape (relative, or an
// absolute URL ending in Type/id[/_history/v]); nullopt for urn:uuid:, "#id"
// and anything else.
struct TypeAndId {
  std::string type;
  std::string id;
};
std::optional<TypeAndId> SplitReference(absl::string_view reference);

// Whether `id` is a FHIR logical id: 1-64 of [A-Za-z0-9-.].
bool IsId(absl::string_view id);

}  // namespace meridian::fhir

#endif  // MERIDIAN_LIBS_FHIR_FHIR_H_
