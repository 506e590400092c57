#include "libs/ids/uuid.h"

#include <openssl/rand.h>

#include <cstdint>
#include <cstdlib>

#include "absl/strings/ascii.h"

namespace meridian::ids {

std::string NewUuid() {
  uint8_t b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) std::abort();  // no entropy: cannot go on
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  return FormatUuid(absl::string_view(reinterpret_cast<const char*>(b), sizeof(b)));
}

std::string FormatUuid(absl::string_view bytes) {
  if (bytes.size() != 16) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    const auto b = static_cast<uint8_t>(bytes[i]);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::string RandomCode(int length, absl::string_view alphabet) {
  const size_t n = alphabet.size();
  if (n < 2 || n > 256) std::abort();
  // Rejection sampling: bytes at or above the largest multiple of n would
  // favour the alphabet's first characters.
  const unsigned limit = 256 - 256 % n;
  std::string out;
  out.reserve(length);
  while (static_cast<int>(out.size()) < length) {
    uint8_t b[32];
    if (RAND_bytes(b, sizeof(b)) != 1) std::abort();
    for (uint8_t x : b) {
      if (x < limit && static_cast<int>(out.size()) < length) out.push_back(alphabet[x % n]);
    }
  }
  return out;
}

bool IsUuid(absl::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!absl::ascii_isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace meridian::ids
