#include "libs/service/log.h"

#include "libs/server/log_writer.h"
#include "nlohmann/json.hpp"

namespace meridian::service {

namespace {

std::string Line(absl::string_view level, absl::string_view service,
                 absl::string_view field, absl::string_view text) {
  return FieldsLine(level, service, {{std::string(field), std::string(text)}});
}

}  // namespace

std::string FieldsLine(absl::string_view level, absl::string_view service,
                       const std::vector<LogField>& fields) {
  // Ordered as given (nlohmann::ordered_json), level and service first.
  nlohmann::ordered_json line = {{"level", std::string(level)},
                                 {"service", std::string(service)}};
  for (const LogField& f : fields) {
    std::visit([&](const auto& v) { line[f.name] = v; }, f.value);
  }
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void LogFields(absl::string_view level, absl::string_view service,
               const std::vector<LogField>& fields) {
  server::StderrLogWriter().Write(FieldsLine(level, service, fields));
}

std::string ErrorLine(absl::string_view service, const absl::Status& status) {
  return Line("error", service, "error", status.message());
}

std::string InfoLine(absl::string_view service, absl::string_view message) {
  return Line("info", service, "message", message);
}

std::string WarningLine(absl::string_view service, absl::string_view message) {
  return Line("warn", service, "message", message);
}

void LogInfo(absl::string_view service, absl::string_view message) {
  server::StderrLogWriter().Write(InfoLine(service, message));
}

void LogWarning(absl::string_view service, absl::string_view message) {
  server::StderrLogWriter().Write(WarningLine(service, message));
}

void LogError(absl::string_view service, const absl::Status& status) {
  server::StderrLogWriter().Write(ErrorLine(service, status));
  server::StderrLogWriter().Flush(absl::Seconds(2));
}

int FailStart(absl::string_view service, const absl::Status& status) {
  LogError(service, status);
  return 1;
}

}  // namespace meridian::service
