#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/grpc_status.h"
#include "libs/status/retry.h"
#include "libs/status/status_macros.h"
#include "libs/status/status_matchers.h"

namespace meridian {
namespace {

using ::meridian::testing::IsOk;
using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

absl::Status FailIf(bool fail) {
  return fail ? absl::NotFoundError("no such patient") : absl::OkStatus();
}

absl::StatusOr<int> Twice(absl::StatusOr<int> in) {
  MERIDIAN_ASSIGN_OR_RETURN(int v, in);
  return 2 * v;
}

absl::Status Chain(bool fail, int* reached) {
  MERIDIAN_RETURN_IF_ERROR(FailIf(fail));
  ++*reached;
  return absl::OkStatus();
}

absl::Status ChainWithContext() {
  MERIDIAN_RETURN_IF_ERROR_CTX(FailIf(true), "loading golden record");
  return absl::OkStatus();
}

TEST(StatusMacros, ReturnIfErrorStopsAtFirstError) {
  int reached = 0;
  EXPECT_THAT(Chain(true, &reached), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(reached, 0);
  EXPECT_OK(Chain(false, &reached));
  EXPECT_EQ(reached, 1);
}

TEST(StatusMacros, ReturnIfErrorAcceptsStatusOr) {
  auto f = []() -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(absl::StatusOr<int>(absl::AbortedError("x")));
    return absl::OkStatus();
  };
  EXPECT_THAT(f(), StatusIs(absl::StatusCode::kAborted));
}

TEST(StatusMacros, ContextPrefixesMessageAndKeepsCode) {
  EXPECT_THAT(ChainWithContext(),
              StatusIs(absl::StatusCode::kNotFound,
                       "loading golden record: no such patient"));
}

TEST(StatusMacros, AssignOrReturn) {
  EXPECT_THAT(Twice(21), IsOk());
  EXPECT_EQ(*Twice(21), 42);
  EXPECT_THAT(Twice(absl::InvalidArgumentError("birth_date: bad")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("birth_date")));
}

TEST(StatusMatchers, NegationWorks) {
  EXPECT_THAT(absl::InternalError("x"), Not(IsOk()));
  EXPECT_THAT(absl::InternalError("x"),
              Not(StatusIs(absl::StatusCode::kNotFound)));
}

TEST(GrpcStatus, EveryCodeRoundTrips) {
  for (int c = 0; c <= 16; ++c) {
    absl::Status in(static_cast<absl::StatusCode>(c), c == 0 ? "" : "msg");
    grpc::Status g = ToGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(g.error_code()), c);
    EXPECT_EQ(FromGrpcStatus(g), in);
  }
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("local_id: empty"))
                .error_message(),
            "local_id: empty");
}

TEST(RetryIfAborted, RetriesOnlyLostRacesAndStopsAtTheLimit) {
  int calls = 0;
  absl::StatusOr<int> r = status::RetryIfAborted(4, [&]() -> absl::StatusOr<int> {
    return ++calls < 3 ? absl::StatusOr<int>(absl::AbortedError("race")) : calls;
  });
  EXPECT_EQ(*r, 3);
  calls = 0;
  absl::Status s = status::RetryIfAborted(4, [&] {
    ++calls;
    return absl::AbortedError("race");
  });
  EXPECT_TRUE(absl::IsAborted(s));
  EXPECT_EQ(calls, 4);
  calls = 0;
  s = status::RetryIfAborted(4, [&] {
    ++calls;
    return absl::UnavailableError("down");
  });
  EXPECT_EQ(calls, 1);  // not a race: not retried
}

}  // namespace
}  // namespace meridian
