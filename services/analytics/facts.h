// What one event of the de-identified stream adds to the region's counts.
//
// Extract() reads a de-identified EventEnvelope (libs/deid's output: patient
// IDs are pseudonyms, birth dates are age bands, free text is gone) and
// returns the facts it contributes: one count per encounter, diagnosis,
// prescription, dispensed item, lab result, reuse, referral, cross-
// institution read, registration and merge, each with its day, institution,
// code and flag. A correction that withdraws a record (entered in error)
// gives -1. Events that count nothing give no facts; payloads of a type this
// service does not know are an error for the caller to log.
//
// Pure logic: no SQL, no Kafka. The institution's district and type are
// filled in by the caller from the organisation directory.
#ifndef MERIDIAN_SERVICES_ANALYTICS_FACTS_H_
#define MERIDIAN_SERVICES_ANALYTICS_FACTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "meridian/analytics/v1/analytics.pb.h"
#include "meridian/events/v1/envelope.pb.h"

namespace meridian::analytics {

struct Fact {
  absl::CivilDay day;
  v1::Measure measure = v1::MEASURE_UNSPECIFIED;
  std::string institution;
  std::string district;          // filled by the caller
  std::string institution_type;  // filled by the caller
  std::string code;
  std::string code_group;
  std::string flag;
  int64_t delta = 1;
};

// The patient's attributes the counts are broken down by.
struct Profile {
  std::string sex;       // "male", "female", "other", "unknown"
  std::string age_band;  // "40-44", "90+", "unknown"
};

struct Extracted {
  // The patient's pseudonym (envelope.regional_patient_id); "" when none.
  std::string patient;
  // The region's day of the event (envelope.occurred_at).
  absl::CivilDay day;
  // Set when the event says who the patient is (a registration, a lab
  // report); the patient's later facts are broken down by it.
  std::optional<Profile> profile;
  std::vector<Fact> facts;
};

absl::StatusOr<Extracted> Extract(const events::v1::EventEnvelope& envelope);

// The followed condition an ICD-10 category belongs to: "hypertension"
// (I10-I15), "diabetes" (E10-E14), else "".
std::string ConditionOf(const std::string& category);

// ICD-10 category ("I10" of "I10.9"), or "" when `code` is not ICD-10.
std::string Icd10Category(const std::string& code);
// Roman numeral of the WHO ICD-10 chapter of a category ("IX" for "I10"),
// or "" when it is none.
std::string Icd10Chapter(const std::string& category);

}  // namespace meridian::analytics

#endif  // MERIDIAN_SERVICES_ANALYTICS_FACTS_H_
