// Turns libpqxx exceptions into absl::Status. No exception crosses a library
// boundary: every call into libpqxx goes through Pool::Transact or Execute,
// which catch and map.
#ifndef MERIDIAN_LIBS_PG_ERRORS_H_
#define MERIDIAN_LIBS_PG_ERRORS_H_

#include <exception>

#include "absl/status/status.h"

namespace meridian::pg {

// Mapping (by SQLSTATE class where libpqxx has no dedicated type):
//   serialization failure (40001), deadlock (40P01)  -> ABORTED (retryable)
//   broken connection, admin shutdown (57P01..03)    -> UNAVAILABLE
//   commit outcome unknown (in_doubt_error)          -> UNKNOWN
//   unique violation (23505)                         -> ALREADY_EXISTS
//   other integrity violations (23xxx), data (22xxx) -> FAILED_PRECONDITION /
//                                                       INVALID_ARGUMENT
//   statement timeout / query canceled (57014)        -> DEADLINE_EXCEEDED
//   everything else                                  -> INTERNAL
// Only the first line of the server's message is kept: PostgreSQL's DETAIL
// line can quote row values (personal data) and must never reach a caller.
absl::Status StatusFromException(const std::exception& e);

// The current exception (call inside a catch block).
absl::Status StatusFromCurrentException();

}  // namespace meridian::pg

#endif  // MERIDIAN_LIBS_PG_ERRORS_H_
