// deid::Scrub, which clears free text before it leaves for the
// de-identified stream. The input is "name\nname\n...\0text". Never crash,
// and what it promises holds on any text: no run of 15 or more digits, no 17
// digits then X (a resident ID) and no mobile number is left, an ID is
// replaced whole (no digits of it beside its "[ID]"), and no listed
// name of two or more characters (non-ASCII, as Han names are) remains.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "libs/deid/deid.h"
#include "re2/re2.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  const size_t split = raw.find('\0');
  std::vector<std::string> names;
  std::string text = raw;
  if (split != std::string::npos) {
    names = absl::StrSplit(raw.substr(0, split), '\n', absl::SkipEmpty());
    text = raw.substr(split + 1);
  }
  const std::string out = meridian::deid::Scrub(text, names);
  static const RE2* const kLeft =
      new RE2(R"(\d{15}|\d{17}[Xx]|1[3-9]\d[- ]?\d{4}[- ]?\d{4})");
  FUZZ_CHECK(!RE2::PartialMatch(out, *kLeft));
  // An ID goes whole: no digits of it left beside the mark.
  static const RE2* const kBeside = new RE2(R"([\dXx]\[ID\]|\[ID\][\dXx])");
  FUZZ_CHECK(!RE2::PartialMatch(out, *kBeside) || RE2::PartialMatch(text, *kBeside));
  for (const std::string& name : names) {
    int characters = 0;
    bool ascii = false;
    for (char c : name) {
      const auto b = static_cast<unsigned char>(c);
      if ((b & 0xC0) != 0x80) ++characters;
      if (b < 0x80) ascii = true;
    }
    if (characters >= 2 && !ascii) FUZZ_CHECK(out.find(name) == std::string::npos);
  }
  return 0;
}
