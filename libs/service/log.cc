#include "libs/service/log.h"

#include <iostream>

#include "nlohmann/json.hpp"

namespace meridian::service {

std::string ErrorLine(absl::string_view service, const absl::Status& status) {
  const nlohmann::json line = {{"level", "error"},
                               {"service", std::string(service)},
                               {"error", std::string(status.message())}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void LogError(absl::string_view service, const absl::Status& status) {
  std::cerr << ErrorLine(service, status) << std::endl;
}

int FailStart(absl::string_view service, const absl::Status& status) {
  LogError(service, status);
  return 1;
}

}  // namespace meridian::service
