// Retrying a write that lost a race. A store answers ABORTED when a
// concurrent writer got there first (a unique key taken, a version moved
// on); reading again and redoing the write is then correct:
//
//   absl::StatusOr<Result> r = status::RetryIfAborted(4, [&] { return Write(...); });
#ifndef MERIDIAN_LIBS_STATUS_RETRY_H_
#define MERIDIAN_LIBS_STATUS_RETRY_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace meridian::status {

inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

// Calls `fn` (returning absl::Status or absl::StatusOr) until it answers
// anything but ABORTED, at most `attempts` times; returns the last answer.
template <typename Fn>
auto RetryIfAborted(int attempts, const Fn& fn) {
  auto result = fn();
  for (int i = 1; i < attempts && absl::IsAborted(StatusOf(result)); ++i) result = fn();
  return result;
}

}  // namespace meridian::status

#endif  // MERIDIAN_LIBS_STATUS_RETRY_H_
