// GoogleTest matchers for absl::Status and absl::StatusOr<T>:
//
//   EXPECT_THAT(store.Put(x), IsOk());
//   EXPECT_THAT(store.Get(id), StatusIs(absl::StatusCode::kNotFound));
//   EXPECT_THAT(Parse(s), StatusIs(absl::StatusCode::kInvalidArgument,
//                                  HasSubstr("birth_date")));
//   ASSERT_OK_AND_ASSIGN(Patient p, store.Get(id));
#ifndef MERIDIAN_LIBS_STATUS_STATUS_MATCHERS_H_
#define MERIDIAN_LIBS_STATUS_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "libs/status/status_macros.h"

namespace meridian::testing {

namespace internal {
inline const absl::Status& ToStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace internal

MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& s = internal::ToStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

MATCHER_P(StatusIs, code,
          std::string(negation ? "does not have" : "has") + " code " +
              absl::StatusCodeToString(code)) {
  const absl::Status& s = internal::ToStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           std::string(negation ? "does not have" : "has") + " code " +
               absl::StatusCodeToString(code) + " and a matching message") {
  const absl::Status& s = internal::ToStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher,
                                       std::string(s.message()),
                                       result_listener);
}

}  // namespace meridian::testing

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::meridian::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::meridian::testing::IsOk())

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                                     \
  ASSERT_OK_AND_ASSIGN_IMPL_(                                                \
      MERIDIAN_STATUS_CONCAT_(meridian_test_statusor_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  ASSERT_OK(statusor);                                   \
  lhs = std::move(statusor).value()

#endif  // MERIDIAN_LIBS_STATUS_STATUS_MATCHERS_H_
