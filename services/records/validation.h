// Validation of pushed records: syntax of codes, time order, known
// institutions, sizes. Errors are INVALID_ARGUMENT naming the field
// ("encounter.diagnoses[2].icd10_code") and never echo the value.
#ifndef MERIDIAN_SERVICES_RECORDS_VALIDATION_H_
#define MERIDIAN_SERVICES_RECORDS_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/orgs/directory.h"
#include "google/protobuf/timestamp.pb.h"
#include "meridian/records/v1/records.pb.h"

namespace meridian::records {

namespace v1 = ::meridian::records::v1;

inline constexpr size_t kMaxDocumentTextBytes = 256 * 1024;
inline constexpr int kMaxDiagnoses = 50;
inline constexpr int kMaxProcedures = 50;
// How far ahead of the service's clock a clinical time may be (clock skew).
inline constexpr absl::Duration kMaxClockSkew = absl::Minutes(10);

// ICD-10 as used in China: a category ("I10", "E11"), optionally a
// subcategory after a dot ("E11.9", "J18.900", "I10.x00"), optionally the
// national clinical extension ("I10.x00x002", "A01.000x001").
bool IsIcd10Code(absl::string_view code);

// 1-64 printable ASCII characters, no spaces: local record and patient IDs.
bool IsValidLocalId(absl::string_view id);

// `now` is the service's clock: clinical times may not lie in its future
// (beyond kMaxClockSkew) nor before 1900.
absl::Status ValidateEncounter(const v1::Encounter& e, absl::Time now);
absl::Status ValidateDocument(const v1::ClinicalDocument& d, absl::Time now);
// `from` is the referring institution (the caller).
absl::Status ValidateReferral(const v1::Referral& r, absl::string_view from,
                              const orgs::Directory& directory, absl::Time now);

}  // namespace meridian::records

#endif  // MERIDIAN_SERVICES_RECORDS_VALIDATION_H_
