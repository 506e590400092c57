// A source record reduced to what matching compares: normalised, with pinyin
// for names. Built from a registration (patient_index.cc) or a benchmark row.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_MATCH_RECORD_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_MATCH_RECORD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace meridian::patient {

struct MatchRecord {
  int64_t id = 0;             // the source record's internal ID
  std::string family;         // NormalizeName(family name)
  std::string given;          // NormalizeName(given name)
  std::string family_pinyin;  // ToPinyin(family) (== family for Latin names)
  std::string given_pinyin;
  std::string sex;            // "m", "f" or ""
  std::string birth_date;     // YYYYMMDD or ""
  std::string phone;          // digits
  std::string street_number;
  std::string address;        // NormalizeText(street / address line)
  std::string locality;       // town, suburb or township
  std::string postcode;
  std::string region;         // district code, or state
  std::string resident_id;    // a validated 18-character ID, or ""
  std::string other_id;       // insurance / health card / other number
};

// Fills the pinyin fields from the names.
void DerivePinyin(MatchRecord* r);

// Blocking keys of a record: records sharing any key are compared. Keys are
// prefixed by their kind ("rid:", "ph:", "py:", ...).
std::vector<std::string> BlockingKeys(const MatchRecord& r);

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_MATCH_RECORD_H_
