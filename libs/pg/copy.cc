#include "libs/pg/copy.h"

namespace meridian::pg {

std::string ByteaHex(const std::string& data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.resize(2 + 2 * data.size());
  out[0] = '\\';
  out[1] = 'x';
  size_t i = 2;
  for (unsigned char c : data) {
    out[i++] = kHex[c >> 4];
    out[i++] = kHex[c & 0xf];
  }
  return out;
}

}  // namespace meridian::pg
