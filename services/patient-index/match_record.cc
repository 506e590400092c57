#include "services/patient-index/match_record.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/patient-index/han.h"

namespace meridian::patient {

void DerivePinyin(MatchRecord* r) {
  r->family_pinyin = ToPinyin(r->family);
  r->given_pinyin = ToPinyin(r->given);
}

std::vector<std::string> BlockingKeys(const MatchRecord& r) {
  std::vector<std::string> keys;
  const std::string year = r.birth_date.size() == 8 ? r.birth_date.substr(0, 4) : "";
  auto prefix = [](const std::string& s, size_t n) { return s.substr(0, n); };
  if (!r.resident_id.empty()) keys.push_back("rid:" + r.resident_id);
  if (!r.other_id.empty()) keys.push_back("oid:" + r.other_id);
  if (r.phone.size() >= 7) keys.push_back("ph:" + r.phone);
  if (!r.birth_date.empty()) {
    keys.push_back("dob:" + r.birth_date);
    if (!r.postcode.empty()) keys.push_back(absl::StrCat("pcy:", r.postcode, "|", year));
  }
  const std::string& fp = r.family_pinyin;
  const std::string& gp = r.given_pinyin;
  if (!fp.empty() && !gp.empty()) {
    // Names in either order (swapped family/given names meet here).
    std::string lo = std::min(fp, gp), hi = std::max(fp, gp);
    keys.push_back(absl::StrCat("nn:", lo, "|", hi));
    // Family name + start of the given name, within a birth decade.
    keys.push_back(absl::StrCat("fg:", fp, "|", prefix(gp, 2), "|",
                                prefix(r.birth_date, 3)));
  }
  if (!year.empty()) {
    // Name + birth year, narrowed by the other name's initial so that a
    // common name does not make a block of thousands at regional scale.
    if (!gp.empty()) {
      keys.push_back(absl::StrCat("gy:", gp, "|", year, "|", prefix(fp, 1)));
    }
    if (!fp.empty()) {
      keys.push_back(absl::StrCat("fy:", fp, "|", year, "|", prefix(gp, 1)));
    }
  }
  if (!r.postcode.empty() && !fp.empty()) {
    keys.push_back(absl::StrCat("pf:", r.postcode, "|", prefix(fp, 2)));
  }
  if (!r.locality.empty() && !r.street_number.empty()) {
    keys.push_back(absl::StrCat("ls:", r.locality, "|", r.street_number));
  }
  if (!r.address.empty() && !r.street_number.empty() && !gp.empty()) {
    keys.push_back(absl::StrCat("ag:", r.address, "|", prefix(gp, 1)));
  }
  return keys;
}

}  // namespace meridian::patient
