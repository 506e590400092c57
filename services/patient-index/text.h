// Normalisation of demographic text before comparison and storage.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_TEXT_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace meridian::patient {

// Full-width ASCII forms (U+FF01..FF5E) and the ideographic space become
// ASCII; traditional Han characters become simplified; ASCII letters are
// lower-cased; runs of whitespace collapse to one space; ends are trimmed.
std::string NormalizeText(absl::string_view utf8);

// As NormalizeText, then every space removed ("张 三" == "张三").
std::string NormalizeName(absl::string_view utf8);

// Only the ASCII digits.
std::string DigitsOnly(absl::string_view s);

// True when `s` is valid UTF-8 free of control characters (C0, DEL, C1).
bool IsCleanText(absl::string_view s);

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_TEXT_H_
