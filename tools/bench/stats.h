// What the benchmarks print about repeated measurements, and how they stop.
#ifndef MERIDIAN_TOOLS_BENCH_STATS_H_
#define MERIDIAN_TOOLS_BENCH_STATS_H_

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace meridian::bench {

// The median of `v` (the mean of the middle two for an even count).
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The value below which a fraction `p` of `v` lies (reorders `v`).
inline double Percentile(std::vector<double>& v, double p) {
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

// Stops the benchmark with `what` on stderr.
[[noreturn]] inline void Die(const std::string& what) {
  std::cerr << "meridian_bench: " << what << std::endl;
  std::exit(1);
}
[[noreturn]] inline void Die(const absl::Status& s) { Die(s.ToString()); }

}  // namespace meridian::bench

#endif  // MERIDIAN_TOOLS_BENCH_STATS_H_
