#include "services/patient-index/han.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace meridian::patient {

std::vector<char32_t> DecodeUtf8(absl::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                         : (c >> 3) == 30  ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? c : c & (0x7F >> len);
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = s[i + k];
      if ((cc >> 6) != 2) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms ("\xC0\xBC" for '<'), UTF-16 surrogates and code
    // points past U+10FFFF are not UTF-8 either (found by name_fuzz).
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (!ok || cp < kMin[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsHan(char32_t cp) {
  return (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3134F);
}

absl::string_view PinyinOf(char32_t cp) {
  using han_internal::kPinyin;
  const auto* end = kPinyin + han_internal::kPinyinSize;
  const auto* it = std::lower_bound(
      kPinyin, end, cp,
      [](const han_internal::PinyinEntry& e, char32_t c) { return e.cp < c; });
  if (it == end || it->cp != cp) return "";
  return it->pinyin;
}

char32_t Simplified(char32_t cp) {
  using han_internal::kSimplified;
  const auto* end = kSimplified + han_internal::kSimplifiedSize;
  const auto* it = std::lower_bound(
      kSimplified, end, cp,
      [](const han_internal::VariantEntry& e, char32_t c) { return e.from < c; });
  if (it == end || it->from != cp) return cp;
  return it->to;
}

std::string ToPinyin(absl::string_view utf8) {
  std::string out;
  for (char32_t cp : DecodeUtf8(utf8)) {
    if (IsHan(cp)) {
      absl::string_view py = PinyinOf(Simplified(cp));
      out.append(py.data(), py.size());
    } else if (cp < 0x80 && absl::ascii_isalnum(static_cast<char>(cp))) {
      out.push_back(absl::ascii_tolower(static_cast<char>(cp)));
    }
  }
  return out;
}

}  // namespace meridian::patient
