#include "tools/gen/synthetic.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace meridian::gen {

absl::StatusOr<std::vector<SyntheticRow>> ReadSyntheticCsv(const std::string& path,
                                                           int64_t limit) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::vector<SyntheticRow> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line) &&
         (limit <= 0 || static_cast<int64_t>(rows.size()) < limit)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> f = absl::StrSplit(line, ',');
    if (f.size() < 12) continue;
    SyntheticRow row;
    row.truth_id = f[0];
    row.organisation = f[1];
    patient::v1::RegisterPatientRequest& r = row.request;
    r.set_local_id(f[2]);
    auto* d = r.mutable_demographics();
    d->set_family_name(f[3]);
    d->set_given_name(f[4]);
    d->set_sex(f[5] == "M" ? patient::v1::SEX_MALE : patient::v1::SEX_FEMALE);
    if (f[6].size() == 8) {
      d->set_birth_date(
          absl::StrCat(f[6].substr(0, 4), "-", f[6].substr(4, 2), "-", f[6].substr(6, 2)));
    }
    d->set_phone(f[7]);
    d->mutable_address()->set_line(f[8]);
    d->mutable_address()->set_district_code(f[9]);
    if (!f[10].empty()) {
      auto* id = r.add_identifiers();
      id->set_type(patient::v1::RESIDENT_ID);
      id->set_value(f[10]);
    }
    if (!f[11].empty()) {
      auto* id = r.add_identifiers();
      id->set_type(patient::v1::MEDICAL_INSURANCE);
      id->set_value(f[11]);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace meridian::gen
