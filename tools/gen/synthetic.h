// Reads the CSV that `tools/meridian gen patients` writes into registration
// requests, for the benchmark and the load generator.
#ifndef MERIDIAN_TOOLS_GEN_SYNTHETIC_H_
#define MERIDIAN_TOOLS_GEN_SYNTHETIC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "meridian/patient/v1/patient_index.pb.h"

namespace meridian::gen {

struct SyntheticRow {
  std::string truth_id;      // the invented person
  std::string organisation;  // the registering institution
  patient::v1::RegisterPatientRequest request;
};

// Columns: truth_id, organisation_id, local_id, family_name, given_name, sex,
// birth_date (YYYYMMDD), phone, address_line, district_code, resident_id,
// insurance_no. At most `limit` rows (0: all).
absl::StatusOr<std::vector<SyntheticRow>> ReadSyntheticCsv(const std::string& path,
                                                           int64_t limit = 0);

}  // namespace meridian::gen

#endif  // MERIDIAN_TOOLS_GEN_SYNTHETIC_H_
