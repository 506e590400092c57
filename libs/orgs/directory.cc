#include "libs/orgs/directory.h"


#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/config/config.h"
#include "google/protobuf/text_format.h"

namespace meridian::orgs {

Role RoleOf(OrganisationType type) {
  switch (type) {
    case organisations::v1::PHARMACY:
      return Role::kPharmacy;
    case organisations::v1::LAB:
      return Role::kLab;
    case organisations::v1::HEALTH_AUTHORITY:
      return Role::kAuthority;
    case organisations::v1::OPERATOR:
      return Role::kOperator;
    case organisations::v1::PATIENT_PORTAL:
      return Role::kPatientPortal;
    case organisations::v1::PLATFORM_SERVICE:
      return Role::kService;
    default:
      return Role::kCare;
  }
}

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kCare:
      return "care";
    case Role::kPharmacy:
      return "pharmacy";
    case Role::kLab:
      return "lab";
    case Role::kAuthority:
      return "authority";
    case Role::kOperator:
      return "operator";
    case Role::kPatientPortal:
      return "patient-portal";
    case Role::kService:
      return "service";
  }
  return "unknown";
}

bool IsValidOrganisationId(absl::string_view id) {
  if (id.size() < 2 || id.size() > 64 || !absl::ascii_islower(id[0])) {
    return false;
  }
  for (char c : id) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<Directory> Directory::FromProto(
    const organisations::v1::Directory& proto) {
  Directory d;
  for (int i = 0; i < proto.organisation_size(); ++i) {
    const Organisation& o = proto.organisation(i);
    const std::string where = absl::StrCat("organisation[", i, "]");
    if (!IsValidOrganisationId(o.id())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".id: must be 2-64 of [a-z0-9-]"));
    }
    if (o.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (", o.id(), ").name: required"));
    }
    if (o.type() == organisations::v1::ORGANISATION_TYPE_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (", o.id(), ").type: required"));
    }
    if (o.district_code().size() != 6 ||
        !std::all_of(o.district_code().begin(), o.district_code().end(),
                     [](char c) { return absl::ascii_isdigit(c); })) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " (", o.id(), ").district_code: must be 6 digits"));
    }
    if (!d.by_id_.emplace(o.id(), o).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".id: duplicate ", o.id()));
    }
  }
  if (d.by_id_.empty()) {
    return absl::InvalidArgumentError("organisation directory is empty");
  }
  return d;
}

absl::StatusOr<Directory> Directory::FromText(absl::string_view text) {
  organisations::v1::Directory proto;
  if (!google::protobuf::TextFormat::ParseFromString(std::string(text),
                                                     &proto)) {
    return absl::InvalidArgumentError(
        "organisation directory: not valid text format");
  }
  return FromProto(proto);
}

std::vector<const Organisation*> Directory::All() const {
  std::vector<const Organisation*> out;
  out.reserve(by_id_.size());
  for (const auto& [id, o] : by_id_) out.push_back(&o);
  return out;
}

absl::StatusOr<Directory> Directory::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text = config::ReadFile(path);
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat("organisation directory ", path, ": cannot read"));
  }
  absl::StatusOr<Directory> d = FromText(*text);
  if (!d.ok()) {
    return absl::Status(d.status().code(),
                        absl::StrCat(path, ": ", d.status().message()));
  }
  return d;
}

const Organisation* Directory::Find(absl::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

}  // namespace meridian::orgs
