#include "services/patient-index/compare.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/container/inlined_vector.h"

#include "services/patient-index/han.h"

namespace meridian::patient {

namespace {

// Eight bytes at a time: this runs on every comparison.
bool IsAscii(absl::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t high = 0;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    high |= word;
  }
  for (; n > 0; ++p, --n) high |= static_cast<unsigned char>(*p);
  return (high & 0x8080808080808080ULL) == 0;
}

// Code points of `s` into `out` (ASCII fast path, no allocation for short
// strings).
void Decode(absl::string_view s, absl::InlinedVector<char32_t, 32>* out) {
  out->clear();
  if (IsAscii(s)) {
    for (char c : s) out->push_back(static_cast<unsigned char>(c));
    return;
  }
  // Straight into the inline buffer: no temporary vector on this hot path.
  // Input was validated UTF-8 at registration; a stray byte counts as itself.
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    const int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                            : (c >> 3) == 30 ? 4 : 1;
    if (len == 1 || i + len > s.size()) {
      out->push_back(c);
      ++i;
      continue;
    }
    char32_t cp = c & (0x7F >> len);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    out->push_back(cp);
    i += len;
  }
}

}  // namespace

namespace {

template <typename T>
double JaroWinklerImpl(const T* a, int la, const T* b, int lb) {
  if (la == 0 || lb == 0) return 0.0;
  const int window = std::max(0, std::max(la, lb) / 2 - 1);
  absl::InlinedVector<char, 64> ma(la, 0), mb(lb, 0);
  int matches = 0;
  for (int i = 0; i < la; ++i) {
    const int lo = std::max(0, i - window), hi = std::min(lb - 1, i + window);
    for (int j = lo; j <= hi; ++j) {
      if (!mb[j] && a[i] == b[j]) {
        ma[i] = mb[j] = 1;
        ++matches;
        break;
      }
    }
  }
  if (matches == 0) return 0.0;
  int t = 0;
  for (int i = 0, j = 0; i < la; ++i) {
    if (!ma[i]) continue;
    while (!mb[j]) ++j;
    if (a[i] != b[j]) ++t;
    ++j;
  }
  const double m = matches;
  const double jaro = (m / la + m / lb + (m - t / 2.0) / m) / 3.0;
  int prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix]) {
    ++prefix;
  }
  return jaro + prefix * 0.1 * (1.0 - jaro);
}

// The same as JaroWinklerImpl for byte strings of at most 64 characters,
// bit-parallel: a mask of b's positions per byte value, so each character of
// a finds its first unmatched equal character of b within the window with a
// few word operations instead of a scan. The greedy choice (the lowest such
// position) is the scan's, so the results are identical.
double JaroWinklerBits(const unsigned char* a, int la, const unsigned char* b, int lb) {
  if (la == 0 || lb == 0) return 0.0;
  thread_local uint64_t positions[256] = {};
  for (int j = 0; j < lb; ++j) positions[b[j]] |= uint64_t{1} << j;
  const int window = std::max(0, std::max(la, lb) / 2 - 1);
  uint64_t matched_b = 0, matched_a = 0;
  int matches = 0;
  for (int i = 0; i < la; ++i) {
    const int lo = std::max(0, i - window), hi = std::min(lb - 1, i + window);
    if (lo > hi) continue;
    const int width = hi - lo + 1;
    const uint64_t range = (width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1) << lo;
    const uint64_t candidates = positions[a[i]] & ~matched_b & range;
    if (candidates != 0) {
      matched_b |= candidates & (~candidates + 1);  // the lowest
      matched_a |= uint64_t{1} << i;
      ++matches;
    }
  }
  for (int j = 0; j < lb; ++j) positions[b[j]] = 0;
  if (matches == 0) return 0.0;
  int t = 0;
  for (uint64_t ia = matched_a, ib = matched_b; ia != 0; ia &= ia - 1, ib &= ib - 1) {
    if (a[__builtin_ctzll(ia)] != b[__builtin_ctzll(ib)]) ++t;
  }
  const double m = matches;
  const double jaro = (m / la + m / lb + (m - t / 2.0) / m) / 3.0;
  int prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix]) ++prefix;
  return jaro + prefix * 0.1 * (1.0 - jaro);
}

}  // namespace

double JaroWinkler(absl::string_view sa, absl::string_view sb) {
  if (sa == sb) return sa.empty() ? 0.0 : 1.0;
  if (sa.size() <= 64 && sb.size() <= 64 && IsAscii(sa) && IsAscii(sb)) {
    return JaroWinklerBits(reinterpret_cast<const unsigned char*>(sa.data()),
                           static_cast<int>(sa.size()),
                           reinterpret_cast<const unsigned char*>(sb.data()),
                           static_cast<int>(sb.size()));
  }
  if (IsAscii(sa) && IsAscii(sb)) {  // bytes are characters: no decoding
    return JaroWinklerImpl(sa.data(), static_cast<int>(sa.size()), sb.data(),
                           static_cast<int>(sb.size()));
  }
  absl::InlinedVector<char32_t, 32> a, b;
  Decode(sa, &a);
  Decode(sb, &b);
  return JaroWinklerImpl(a.data(), static_cast<int>(a.size()), b.data(),
                         static_cast<int>(b.size()));
}

bool WithinOneEdit(absl::string_view a, absl::string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  if (b.size() - a.size() > 1) return false;
  size_t i = 0;
  while (i < a.size() && a[i] == b[i]) ++i;
  if (a.size() == b.size()) return a.substr(i + (i < a.size())) == b.substr(i + (i < b.size()));
  return a.substr(i) == b.substr(i + 1);  // one insertion in b
}

bool IsTransposition(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size() || a.size() < 2) return false;
  size_t first = 0;
  while (first < a.size() && a[first] == b[first]) ++first;
  if (first + 1 >= a.size()) return false;
  return a[first] == b[first + 1] && a[first + 1] == b[first] &&
         a.substr(first + 2) == b.substr(first + 2);
}

DateMatch CompareDates(absl::string_view a, absl::string_view b) {
  if (a.size() != 8 || b.size() != 8) return DateMatch::kDifferent;
  if (a == b) return DateMatch::kExact;
  const absl::string_view ya = a.substr(0, 4), yb = b.substr(0, 4);
  const absl::string_view ma = a.substr(4, 2), mb = b.substr(4, 2);
  const absl::string_view da = a.substr(6, 2), db = b.substr(6, 2);
  if (ya == yb && ma == db && da == mb) return DateMatch::kNear;  // swapped
  if (ma == mb && da == db) {
    int diff = std::abs(std::atoi(std::string(ya).c_str()) -
                        std::atoi(std::string(yb).c_str()));
    if (diff == 1) return DateMatch::kNear;
  }
  int wrong = 0;
  for (int i = 0; i < 8; ++i) wrong += a[i] != b[i];
  if (wrong == 1 || IsTransposition(a, b)) return DateMatch::kNear;
  if (ya == yb) return DateMatch::kSameYear;
  return DateMatch::kDifferent;
}

}  // namespace meridian::patient
