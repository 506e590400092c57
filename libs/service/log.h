// A service's error and start-up lines on stderr, each one JSON object (the
// message escaped, invalid UTF-8 replaced), shared by service::Main and the
// services with their own main. They go through the same writer as the
// access log (server::StderrLogWriter), so lines never interleave.
#ifndef MERIDIAN_LIBS_SERVICE_LOG_H_
#define MERIDIAN_LIBS_SERVICE_LOG_H_

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace meridian::service {

// {"level":"error","service":NAME,"error":MESSAGE}
std::string ErrorLine(absl::string_view service, const absl::Status& status);

// {"level":"info","service":NAME,"message":MESSAGE}
std::string InfoLine(absl::string_view service, absl::string_view message);

// Prints ErrorLine to stderr, and waits (up to 2 s) until it is written: an
// error often comes just before an exit.
void LogError(absl::string_view service, const absl::Status& status);

// {"level":"warn","service":NAME,"message":MESSAGE}
std::string WarningLine(absl::string_view service, absl::string_view message);

// Prints InfoLine to stderr.
void LogInfo(absl::string_view service, absl::string_view message);

// Prints WarningLine to stderr.
void LogWarning(absl::string_view service, absl::string_view message);

// A field of a structured line: a number, or text (escaped as JSON).
struct LogField {
  std::string name;
  std::variant<int64_t, std::string> value;
};

// {"level":LEVEL,"service":NAME, then each field in turn}, e.g.
//   FieldsLine("warn", "analytics", {{"offset", 41}, {"error", s.ToString()}})
std::string FieldsLine(absl::string_view level, absl::string_view service,
                       const std::vector<LogField>& fields);

// Prints FieldsLine to stderr.
void LogFields(absl::string_view level, absl::string_view service,
               const std::vector<LogField>& fields);

// LogError, then 1: the exit code of a failed start.
int FailStart(absl::string_view service, const absl::Status& status);

}  // namespace meridian::service

#endif  // MERIDIAN_LIBS_SERVICE_LOG_H_
