// String, date and number comparators for record linkage. Strings are
// compared by Unicode code point, so a Chinese name's characters count one
// each.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_COMPARE_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_COMPARE_H_

#include "absl/strings/string_view.h"

namespace meridian::patient {

// Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, up to 4 characters).
double JaroWinkler(absl::string_view a, absl::string_view b);

// True when a and b are at most one insertion, deletion or substitution
// apart, compared byte by byte (for digits and other ASCII codes); linear.
bool WithinOneEdit(absl::string_view a, absl::string_view b);

// True when a and b differ by exactly one adjacent transposition.
bool IsTransposition(absl::string_view a, absl::string_view b);

enum class DateMatch {
  kExact,
  kNear,        // day and month swapped, year off by one, or one digit wrong
  kSameYear,
  kDifferent,
};

// Dates as YYYYMMDD.
DateMatch CompareDates(absl::string_view a, absl::string_view b);

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_COMPARE_H_
