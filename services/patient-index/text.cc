#include "services/patient-index/text.h"

#include "absl/strings/ascii.h"
#include "services/patient-index/han.h"

namespace meridian::patient {

std::string NormalizeText(absl::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  bool pending_space = false;
  for (char32_t cp : DecodeUtf8(utf8)) {
    if (cp >= 0xFF01 && cp <= 0xFF5E) cp -= 0xFEE0;  // full-width ASCII
    if (cp == 0x3000 || cp == 0xA0) cp = ' ';
    if (cp < 0x80 && absl::ascii_isspace(static_cast<char>(cp))) {
      pending_space = !out.empty();
      continue;
    }
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) continue;  // controls
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    if (cp < 0x80) {
      out.push_back(absl::ascii_tolower(static_cast<char>(cp)));
    } else {
      AppendUtf8(IsHan(cp) ? Simplified(cp) : cp, &out);
    }
  }
  return out;
}

std::string NormalizeName(absl::string_view utf8) {
  std::string out;
  for (char c : NormalizeText(utf8)) {
    if (c != ' ' && c != '.' && c != '-' && c != '\'') out.push_back(c);
  }
  return out;
}

std::string DigitsOnly(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (absl::ascii_isdigit(c)) out.push_back(c);
  }
  return out;
}

bool IsCleanText(absl::string_view s) {
  for (char32_t cp : DecodeUtf8(s)) {
    if (cp == 0xFFFD) return false;
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) return false;
  }
  return true;
}

}  // namespace meridian::patient
