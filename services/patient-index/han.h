// Chinese characters: toneless pinyin and traditional -> simplified, from
// tables generated at build time out of Debian's unicode-data (Unihan).
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_HAN_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_HAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace meridian::patient {

// UTF-8 -> code points; invalid bytes become U+FFFD.
std::vector<char32_t> DecodeUtf8(absl::string_view s);
void AppendUtf8(char32_t cp, std::string* out);

bool IsHan(char32_t cp);

// Toneless pinyin of a Han character ("" when unknown).
absl::string_view PinyinOf(char32_t cp);

// The simplified form of a traditional character (itself otherwise).
char32_t Simplified(char32_t cp);

// Pinyin of a whole string: Han characters become their syllables, other
// letters and digits are kept (lower-cased), everything else dropped.
// "張 三" -> "zhangsan".
std::string ToPinyin(absl::string_view utf8);

namespace han_internal {
struct PinyinEntry {
  uint32_t cp;
  const char* pinyin;
};
struct VariantEntry {
  uint32_t from;
  uint32_t to;
};
extern const PinyinEntry kPinyin[];
extern const int kPinyinSize;
extern const VariantEntry kSimplified[];
extern const int kSimplifiedSize;
}  // namespace han_internal

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_HAN_H_
