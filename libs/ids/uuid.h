// Random (version 4) UUIDs for event IDs and other opaque identifiers.
#ifndef MERIDIAN_LIBS_IDS_UUID_H_
#define MERIDIAN_LIBS_IDS_UUID_H_

#include <string>

#include "absl/strings/string_view.h"

namespace meridian::ids {

// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", lower case, from OpenSSL's CSPRNG.
std::string NewUuid();

// The canonical lower-case text of a UUID's 16 bytes (as PostgreSQL sends a
// uuid in binary format); empty when `bytes` is not 16 bytes long.
std::string FormatUuid(absl::string_view bytes);

// `length` characters drawn uniformly from `alphabet` (2-256 characters)
// with OpenSSL's CSPRNG: verification codes and other short secrets.
std::string RandomCode(int length, absl::string_view alphabet);

// True for a canonical lower- or upper-case 8-4-4-4-12 hex UUID.
bool IsUuid(absl::string_view s);

}  // namespace meridian::ids

#endif  // MERIDIAN_LIBS_IDS_UUID_H_
