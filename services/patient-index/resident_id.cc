#include "services/patient-index/resident_id.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace meridian::patient {
namespace {

// GB/T 2260 province-level codes (first two digits of a division code).
bool IsProvinceCode(int p) {
  static constexpr int kCodes[] = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33,
                                   34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50,
                                   51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81,
                                   82};
  for (int c : kCodes) {
    if (c == p) return true;
  }
  return false;
}

bool AllDigits(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

}  // namespace

bool IsValidDate(absl::string_view d) {
  if (d.size() != 8 || !AllDigits(d)) return false;
  int y = std::atoi(std::string(d.substr(0, 4)).c_str());
  int m = std::atoi(std::string(d.substr(4, 2)).c_str());
  int day = std::atoi(std::string(d.substr(6, 2)).c_str());
  if (y < 1880 || m < 1 || m > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  int max = kDays[m - 1] + (m == 2 && leap ? 1 : 0);
  return day <= max;
}

char ResidentIdCheckChar(absl::string_view first17) {
  static constexpr int kWeights[] = {7, 9, 10, 5, 8, 4, 2, 1, 6,
                                     3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr char kChars[] = "10X98765432";
  int sum = 0;
  for (int i = 0; i < 17; ++i) sum += (first17[i] - '0') * kWeights[i];
  return kChars[sum % 11];
}

absl::StatusOr<ResidentId> ParseResidentId(absl::string_view raw,
                                           absl::string_view field,
                                           absl::string_view today) {
  std::string v = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(raw));
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
  };
  if (v.size() == 15) {
    if (!AllDigits(v)) return bad("a 15-digit resident ID must be all digits");
    std::string first17 = v.substr(0, 6) + "19" + v.substr(6);
    v = first17 + ResidentIdCheckChar(first17);
  }
  if (v.size() != 18) return bad("a resident ID has 18 characters");
  if (!AllDigits(absl::string_view(v).substr(0, 17)) ||
      !(absl::ascii_isdigit(v[17]) || v[17] == 'X')) {
    return bad("a resident ID is 17 digits and a digit or X");
  }
  if (!IsProvinceCode(std::atoi(v.substr(0, 2).c_str()))) {
    return bad("unknown province code in resident ID");
  }
  const std::string birth = v.substr(6, 8);
  if (!IsValidDate(birth)) return bad("resident ID holds an invalid birth date");
  if (birth > today) return bad("resident ID holds a birth date in the future");
  if (ResidentIdCheckChar(absl::string_view(v).substr(0, 17)) != v[17]) {
    return bad("resident ID check character is wrong");
  }
  ResidentId id;
  id.region_code = v.substr(0, 6);
  id.birth_date = birth;
  id.male = (v[16] - '0') % 2 == 1;
  id.value = std::move(v);
  return id;
}

}  // namespace meridian::patient
