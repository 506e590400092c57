// Dates, times and page tokens from clients: fields::ParseDate (YYYY-MM-DD),
// fhir::ParseTime (FHIR date/dateTime/instant), fields::DecodePageToken
// (opaque tokens handed back by clients). Never crash; ParseDate accepts only
// real dates and prints back to its input; a token from EncodePageToken
// decodes to what was encoded.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "libs/fhir/fhir.h"
#include "libs/fields/fields.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  if (auto day = meridian::fields::ParseDate(raw)) {
    FUZZ_CHECK(absl::StrFormat("%04d-%02d-%02d", day->year(), day->month(), day->day()) ==
               raw);
  }
  (void)meridian::fhir::ParseTime(nlohmann::json(raw), "effectiveDateTime");
  for (size_t keys = 0; keys <= 3; ++keys) {
    (void)meridian::fields::DecodePageToken(raw, keys);
  }
  // Round trip: keys taken from the input (split on newlines), a time from
  // its length.
  // (Keys are IDs: non-empty, without newlines, as the services issue them.)
  std::vector<std::string> keys = absl::StrSplit(raw, '\n', absl::SkipEmpty());
  const absl::Time t = absl::FromUnixMicros(static_cast<int64_t>(size) * 1234567);
  const std::string token = meridian::fields::EncodePageToken(t, keys);
  auto back = meridian::fields::DecodePageToken(token, keys.size());
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back->time == t);
  FUZZ_CHECK(back->keys == keys);
  return 0;
}
