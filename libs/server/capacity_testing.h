// The expectations of a ten-times-capacity test (tests only: uses gtest).
//
//   auto limited = server::testing::LimitedServer(&service, &directory, 20);
//   const server::testing::CapacityRun run = server::testing::FloodAlongside(
//       [&](int n, grpc::ClientContext& ctx) { return flooder->Push(&ctx, ..., &out); },
//       [&](int i) { auto ctx = server::NewContext(absl::Seconds(10)); return calm->Push(...); });
//   EXPECT_TRUE(server::testing::HeldAtCapacity(run, 20));
//   EXPECT_EQ(<rows stored>, run.flood.accepted);
#ifndef MERIDIAN_LIBS_SERVER_CAPACITY_TESTING_H_
#define MERIDIAN_LIBS_SERVER_CAPACITY_TESTING_H_

#include "gtest/gtest.h"
#include "libs/server/testing.h"

namespace meridian::server::testing {

// The flood met only acceptances and refusals with a time to retry; no more
// was accepted than a bucket of `per_second` (and as much burst) allows, and
// at least ten times that was asked; the calm institution was served every
// time; memory grew by less than 64 MB (not checked under AddressSanitizer,
// whose quarantine keeps freed memory resident on purpose).
inline ::testing::AssertionResult HeldAtCapacity(const CapacityRun& run, double per_second) {
  const FloodOutcome& f = run.flood;
  if (f.other != 0) return ::testing::AssertionFailure() << f.other << " other outcomes";
  if (f.bad_refusals != 0) {
    return ::testing::AssertionFailure() << f.bad_refusals << " refusals without a retry time";
  }
  if (f.accepted > per_second + per_second * f.seconds + 5) {
    return ::testing::AssertionFailure() << f.accepted << " accepted in " << f.seconds << " s";
  }
  if (f.refused < 9 * f.accepted) {
    return ::testing::AssertionFailure() << "not ten times capacity: " << f.refused
                                         << " refused, " << f.accepted << " accepted";
  }
  if (run.calm_ok != 10) {
    return ::testing::AssertionFailure() << "the calm institution was served " << run.calm_ok
                                         << " times of 10";
  }
  if (kResidentMemoryIsMeaningful && run.rss_growth_kb >= 64 * 1024) {
    return ::testing::AssertionFailure() << "resident memory grew by " << run.rss_growth_kb
                                         << " kB";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace meridian::server::testing

#endif  // MERIDIAN_LIBS_SERVER_CAPACITY_TESTING_H_
