// Propagation macros for absl::Status / absl::StatusOr (Abseil 20220623 ships
// none). Modelled on the ones later added to Abseil as ABSL_RETURN_IF_ERROR.
//
//   MERIDIAN_RETURN_IF_ERROR(store->Put(row));
//   MERIDIAN_ASSIGN_OR_RETURN(Patient p, store->Get(id));
//   MERIDIAN_ASSIGN_OR_RETURN(auto rows, Query(), _.WithPrefix("loading rows"));
#ifndef MERIDIAN_LIBS_STATUS_STATUS_MACROS_H_
#define MERIDIAN_LIBS_STATUS_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace meridian::status_internal {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// Returns `status` with `prefix: ` in front of its message, same code.
absl::Status Annotate(const absl::Status& status, absl::string_view prefix);

}  // namespace meridian::status_internal

#define MERIDIAN_STATUS_CONCAT_INNER_(a, b) a##b
#define MERIDIAN_STATUS_CONCAT_(a, b) MERIDIAN_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status or absl::StatusOr) and returns its status
// from the enclosing function if it is not OK.
#define MERIDIAN_RETURN_IF_ERROR(expr)                                  \
  do {                                                                  \
    const auto& meridian_status_ = (expr);                              \
    if (!meridian_status_.ok()) {                                       \
      return ::meridian::status_internal::GetStatus(meridian_status_);  \
    }                                                                   \
  } while (false)

// Like MERIDIAN_RETURN_IF_ERROR but prefixes the message with `context`.
#define MERIDIAN_RETURN_IF_ERROR_CTX(expr, context)                     \
  do {                                                                  \
    const auto& meridian_status_ = (expr);                              \
    if (!meridian_status_.ok()) {                                       \
      return ::meridian::status_internal::Annotate(                     \
          ::meridian::status_internal::GetStatus(meridian_status_),     \
          (context));                                                   \
    }                                                                   \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status, else
// moves the value into `lhs` (which may be a declaration).
#define MERIDIAN_ASSIGN_OR_RETURN(lhs, rexpr)                               \
  MERIDIAN_ASSIGN_OR_RETURN_IMPL_(                                          \
      MERIDIAN_STATUS_CONCAT_(meridian_statusor_, __LINE__), lhs, rexpr)

#define MERIDIAN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = std::move(statusor).value()

#endif  // MERIDIAN_LIBS_STATUS_STATUS_MACROS_H_
