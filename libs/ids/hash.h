// Content hashes (not for secrets: keyed pseudonyms live in libs/deid).
#ifndef MERIDIAN_LIBS_IDS_HASH_H_
#define MERIDIAN_LIBS_IDS_HASH_H_

#include <string>

#include "absl/strings/string_view.h"

namespace meridian::ids {

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

}  // namespace meridian::ids

#endif  // MERIDIAN_LIBS_IDS_HASH_H_
