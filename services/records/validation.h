// Validation of pushed records: syntax of codes, time order, known
// institutions, sizes. Errors are INVALID_ARGUMENT naming the field
// ("encounter.diagnoses[2].icd10_code") and never echo the value.
#ifndef MERIDIAN_SERVICES_RECORDS_VALIDATION_H_
#define MERIDIAN_SERVICES_RECORDS_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/fields/fields.h"
#include "libs/orgs/directory.h"
#include "google/protobuf/timestamp.pb.h"
#include "meridian/records/v1/records.pb.h"

namespace meridian::records {


inline constexpr size_t kMaxDocumentTextBytes = 256 * 1024;
inline constexpr int kMaxDiagnoses = 50;
inline constexpr int kMaxProcedures = 50;
using fields::IsIcd10Code;
using fields::IsValidLocalId;

// `now` is the service's clock: clinical times may not lie in its future
// (beyond fields::kMaxClockSkew) nor before 1900.
absl::Status ValidateEncounter(const v1::Encounter& e, absl::Time now);
absl::Status ValidateDocument(const v1::ClinicalDocument& d, absl::Time now);
// `from` is the referring institution (the caller).
absl::Status ValidateReferral(const v1::Referral& r, absl::string_view from,
                              const orgs::Directory& directory, absl::Time now);

}  // namespace meridian::records

#endif  // MERIDIAN_SERVICES_RECORDS_VALIDATION_H_
