// Validation of fields of requests, shared by the services: every error is
// INVALID_ARGUMENT naming the field ("encounter.diagnoses[2].icd10_code") and
// never echoing its value, which may be personal data.
//
//   MERIDIAN_RETURN_IF_ERROR(fields::CheckLocalId("prescription.local_id", id));
#ifndef MERIDIAN_LIBS_FIELDS_FIELDS_H_
#define MERIDIAN_LIBS_FIELDS_FIELDS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace meridian::fields {

// How far ahead of the service's clock a clinical time may be (clock skew).
inline constexpr absl::Duration kMaxClockSkew = absl::Minutes(10);

// INVALID_ARGUMENT "field: what".
absl::Status Invalid(absl::string_view field, absl::string_view what);

// ICD-10 as used in China: a category ("I10", "E11"), optionally a
// subcategory after a dot ("E11.9", "J18.900", "I10.x00"), optionally the
// national clinical extension ("I10.x00x002", "A01.000x001").
bool IsIcd10Code(absl::string_view code);

// 1-64 printable ASCII characters, no spaces: local record and patient IDs.
bool IsValidLocalId(absl::string_view id);

// A required local ID.
absl::Status CheckLocalId(absl::string_view field, absl::string_view id);

// At most `max` bytes.
absl::Status CheckText(absl::string_view field, absl::string_view text, size_t max);

// A required (or, with `required` false, optional) clinical time: a valid
// timestamp, not before 1900, not in the future of `now` (the service's
// clock) beyond kMaxClockSkew.
absl::Status CheckTime(absl::string_view field, bool present,
                       const google::protobuf::Timestamp& t, absl::Time now,
                       bool required = true);

// "YYYY-MM-DD" exactly, a real date (no 02-30), or nullopt.
std::optional<absl::CivilDay> ParseDate(absl::string_view s);

// Page tokens: where a page ended (a time and the keys that break its
// ties), opaque to clients. Keys must not contain '\n' (identifiers never
// do).
std::string EncodePageToken(absl::Time time, const std::vector<std::string>& keys);

struct PageKey {
  absl::Time time;
  std::vector<std::string> keys;
};

// INVALID_ARGUMENT "page_token: not a token this service issued" unless
// `token` came from EncodePageToken with `key_count` keys.
absl::StatusOr<PageKey> DecodePageToken(absl::string_view token, size_t key_count);

}  // namespace meridian::fields

#endif  // MERIDIAN_LIBS_FIELDS_FIELDS_H_
