// Builders for patient-index tests (synthetic people only).
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_TEST_UTIL_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_TEST_UTIL_H_

#include <string>

#include "meridian/patient/v1/patient_index.pb.h"
#include "services/patient-index/resident_id.h"

namespace meridian::patient::testing {

// A synthetic resident ID for a birth date, with a correct check character.
inline std::string ResidentIdFor(const std::string& yyyymmdd, int seq = 1) {
  std::string s = "110105" + yyyymmdd;
  std::string sq = std::to_string(100 + seq % 900);
  std::string first17 = s + sq;
  return first17 + ResidentIdCheckChar(first17);
}

inline v1::RegisterPatientRequest Person(const std::string& local_id,
                                         const std::string& family,
                                         const std::string& given,
                                         const std::string& birth_date,
                                         const std::string& phone = "",
                                         v1::Sex sex = v1::SEX_FEMALE) {
  v1::RegisterPatientRequest r;
  r.set_local_id(local_id);
  auto* d = r.mutable_demographics();
  d->set_family_name(family);
  d->set_given_name(given);
  d->set_birth_date(birth_date);
  d->set_phone(phone);
  d->set_sex(sex);
  d->mutable_address()->set_line("幸福路 12 号");
  d->mutable_address()->set_district_code("330102");
  return r;
}

inline void AddId(v1::RegisterPatientRequest* r, v1::IdentifierType type,
                  const std::string& value) {
  auto* id = r->add_identifiers();
  id->set_type(type);
  id->set_value(value);
}

}  // namespace meridian::patient::testing

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_TEST_UTIL_H_
