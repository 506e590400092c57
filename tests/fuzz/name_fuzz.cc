// The name and text normalisers on arbitrary bytes (invalid UTF-8, control
// characters, full-width forms, traditional characters): never crash, are
// idempotent (a normalised name normalises to itself, so stored and incoming
// values compare alike), and their output is clean UTF-8.
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "services/patient-index/han.h"
#include "services/patient-index/text.h"
#include "tests/fuzz/fuzz_check.h"

using namespace meridian::patient;  // NOLINT: a fuzz target's whole subject

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  const std::string text = NormalizeText(raw);
  FUZZ_CHECK(NormalizeText(text) == text);
  const std::string name = NormalizeName(raw);
  FUZZ_CHECK(NormalizeName(name) == name);
  FUZZ_CHECK(name.find(' ') == std::string::npos);
  if (IsCleanText(raw)) {
    FUZZ_CHECK(IsCleanText(text));
    FUZZ_CHECK(IsCleanText(name));
    // Clean UTF-8 decodes and encodes back to itself.
    std::string back;
    for (char32_t cp : DecodeUtf8(raw)) AppendUtf8(cp, &back);
    FUZZ_CHECK(back == raw);
  }
  const std::string pinyin = ToPinyin(raw);
  for (char c : pinyin) FUZZ_CHECK(static_cast<unsigned char>(c) < 0x80);
  for (char c : DigitsOnly(raw)) FUZZ_CHECK(absl::ascii_isdigit(c));
  return 0;
}
