// The PRC resident identity number (GB 11643-1999): 6-digit administrative
// division code, 8-digit birth date, 3-digit sequence (odd = male), and an
// ISO 7064 MOD 11-2 check character (0-9 or X).
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_RESIDENT_ID_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_RESIDENT_ID_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace meridian::patient {

struct ResidentId {
  std::string value;         // 18 characters, upper-case X
  std::string region_code;   // 6 digits
  std::string birth_date;    // YYYYMMDD
  bool male = false;
};

// Parses an 18-character ID, or converts a 15-digit legacy ID (2-digit year
// in the 1900s, no check character). INVALID_ARGUMENT naming `field` and the
// defect (never the value) when the structure, province code, date or check
// character is wrong. `today` (YYYYMMDD) bounds the birth date.
absl::StatusOr<ResidentId> ParseResidentId(absl::string_view raw,
                                           absl::string_view field,
                                           absl::string_view today);

// The MOD 11-2 check character for the first 17 digits.
char ResidentIdCheckChar(absl::string_view first17);

// True for a valid calendar date YYYYMMDD from 1880 on.
bool IsValidDate(absl::string_view yyyymmdd);

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_RESIDENT_ID_H_
