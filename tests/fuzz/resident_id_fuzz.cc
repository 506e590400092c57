// ParseResidentId on arbitrary bytes: never crashes; what it accepts is a
// well-formed 18-character ID with a correct check character and a real
// birth date; what it rejects is never echoed in the error.
#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "services/patient-index/resident_id.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  auto id = meridian::patient::ParseResidentId(raw, "identifiers[0].value", "20261205");
  if (id.ok()) {
    FUZZ_CHECK(id->value.size() == 18);
    FUZZ_CHECK(meridian::patient::ResidentIdCheckChar(id->value.substr(0, 17)) ==
               id->value[17]);
    FUZZ_CHECK(meridian::patient::IsValidDate(id->birth_date));
    FUZZ_CHECK(id->birth_date <= "20261205");
    FUZZ_CHECK(id->region_code == id->value.substr(0, 6));
    // Parsing its own output gives it back.
    auto again = meridian::patient::ParseResidentId(id->value, "f", "20261205");
    FUZZ_CHECK(again.ok() && again->value == id->value);
    return 0;
  }
  FUZZ_CHECK(id.status().code() == absl::StatusCode::kInvalidArgument);
  FUZZ_CHECK(absl::StartsWith(id.status().message(), "identifiers[0].value"));
  // What looks like an ID (8 or more digits, perhaps an X) is never echoed.
  const bool id_like = raw.size() >= 8 && std::all_of(raw.begin(), raw.end(), [](char c) {
    return absl::ascii_isdigit(c) || c == 'X' || c == 'x';
  });
  if (id_like) FUZZ_CHECK(!absl::StrContains(id.status().message(), raw));
  return 0;
}
