// Helpers for tests against the real broker started by `tools/meridian up`.
#ifndef MERIDIAN_LIBS_KAFKA_TESTING_H_
#define MERIDIAN_LIBS_KAFKA_TESTING_H_

#include <string>

#include "absl/strings/string_view.h"

namespace meridian::kafka::testing {

// MERIDIAN_KAFKA_BROKERS; aborts with a clear message when unset.
std::string Brokers();

// Kafka clients this process makes afterwards act as `who` (a certificate
// of the development certificates, e.g. "svc-analytics", "privacy-auditor")
// over the broker's mutual-TLS listener, or over the plaintext listener as
// User:ANONYMOUS when `who` is empty (kafka::SetClientTls). Returns the
// brokers to connect to.
std::string ActAs(const std::string& who);

// A topic name unique to this test process.
std::string UniqueTopic(absl::string_view prefix);

// Runs `tools/meridian <args>` (MERIDIAN_CTL), e.g. "stop kafka"; returns the
// exit code.
int Ctl(absl::string_view args);

}  // namespace meridian::kafka::testing

#endif  // MERIDIAN_LIBS_KAFKA_TESTING_H_
