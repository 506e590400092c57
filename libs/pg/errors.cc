#include "libs/pg/errors.h"

#include <string>
#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"
#include "pqxx/except"

namespace meridian::pg {
namespace {

std::string FirstLine(absl::string_view what) {
  size_t nl = what.find('\n');
  absl::string_view line = what.substr(0, nl);
  // libpq prefixes "ERROR:  "; keep the text after it.
  constexpr absl::string_view kPrefix = "ERROR:  ";
  if (line.substr(0, kPrefix.size()) == kPrefix) line.remove_prefix(kPrefix.size());
  return std::string(line);
}

absl::Status FromSqlState(const std::string& state, const std::string& msg) {
  if (state == "40001" || state == "40P01") return absl::AbortedError(msg);
  if (state == "23505") return absl::AlreadyExistsError(msg);
  if (state == "57014") return absl::DeadlineExceededError(msg);
  if (state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0) {
    return absl::UnavailableError(msg);
  }
  if (state.rfind("23", 0) == 0) return absl::FailedPreconditionError(msg);
  if (state.rfind("22", 0) == 0) return absl::InvalidArgumentError(msg);
  if (state == "55P03") return absl::AbortedError(msg);  // lock not available
  if (state == "42501") return absl::PermissionDeniedError(msg);  // insufficient privilege
  return absl::InternalError(msg);
}

}  // namespace

absl::Status StatusFromException(const std::exception& e) {
  const std::string msg = absl::StrCat("postgres: ", FirstLine(e.what()));
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnknownError(msg);
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(msg);
  }
  // libpqxx 6.4 does not always fill sqlstate(); check its types first.
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return absl::AbortedError(msg);
  }
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) {
    return absl::AlreadyExistsError(msg);
  }
  if (dynamic_cast<const pqxx::integrity_constraint_violation*>(&e) != nullptr) {
    return absl::FailedPreconditionError(msg);
  }
  if (dynamic_cast<const pqxx::data_exception*>(&e) != nullptr) {
    return absl::InvalidArgumentError(msg);
  }
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) {
    return absl::PermissionDeniedError(msg);
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    return FromSqlState(sql->sqlstate(), msg);
  }
  if (dynamic_cast<const pqxx::conversion_error*>(&e) != nullptr) {
    return absl::InternalError(msg);
  }
  return absl::InternalError(msg);
}

absl::Status StatusFromCurrentException() {
  try {
    throw;
  } catch (const std::exception& e) {
    return StatusFromException(e);
  } catch (...) {
    return absl::InternalError("postgres: unknown exception");
  }
}

}  // namespace meridian::pg
