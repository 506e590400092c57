// Helpers for tests against the real broker started by `tools/meridian up`.
#ifndef MERIDIAN_LIBS_KAFKA_TESTING_H_
#define MERIDIAN_LIBS_KAFKA_TESTING_H_

#include <string>

#include "absl/strings/string_view.h"

namespace meridian::kafka::testing {

// MERIDIAN_KAFKA_BROKERS; aborts with a clear message when unset.
std::string Brokers();

// A topic name unique to this test process.
std::string UniqueTopic(absl::string_view prefix);

// Runs `tools/meridian <args>` (MERIDIAN_CTL), e.g. "stop kafka"; returns the
// exit code.
int Ctl(absl::string_view args);

}  // namespace meridian::kafka::testing

#endif  // MERIDIAN_LIBS_KAFKA_TESTING_H_
