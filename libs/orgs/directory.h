// The region's organisation directory: every institution allowed to call the
// platform, with its type (which decides its role) and district.
//
// Loaded at start from a protobuf text-format file
// (deploy/organisations.textproto); a malformed directory stops the service
// with a message naming the entry and field.
#ifndef MERIDIAN_LIBS_ORGS_DIRECTORY_H_
#define MERIDIAN_LIBS_ORGS_DIRECTORY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "meridian/organisations/v1/organisations.pb.h"

namespace meridian::orgs {

using Organisation = organisations::v1::Organisation;
using OrganisationType = organisations::v1::OrganisationType;

// What an organisation may do on the platform.
enum class Role {
  kCare,       // hospitals and township health centres: push and read records
  kPharmacy,   // dispense prescriptions
  kLab,        // push lab results
  kAuthority,  // aggregate indicators only
  kOperator,   // run the platform: merges, review queue, keys
  kPatientPortal,  // patients' own consent directives and access history
  kService,    // Meridian services calling each other
};

Role RoleOf(OrganisationType type);
absl::string_view RoleName(Role role);

class Directory {
 public:
  static absl::StatusOr<Directory> FromProto(
      const organisations::v1::Directory& proto);
  static absl::StatusOr<Directory> FromText(absl::string_view text);
  static absl::StatusOr<Directory> LoadFile(const std::string& path);

  // nullptr when `id` is not in the directory.
  const Organisation* Find(absl::string_view id) const;
  // Every organisation, in no particular order.
  std::vector<const Organisation*> All() const;
  size_t size() const { return by_id_.size(); }

 private:
  absl::flat_hash_map<std::string, Organisation> by_id_;
};

// True for IDs of 2 to 64 characters of [a-z0-9-], starting with a letter.
bool IsValidOrganisationId(absl::string_view id);

}  // namespace meridian::orgs

#endif  // MERIDIAN_LIBS_ORGS_DIRECTORY_H_
