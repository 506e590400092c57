#include "libs/tsv/tsv.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"

namespace meridian::tsv {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Tsv, SkipsCommentsAndBlankLinesAndKeepsLineNumbers) {
  ASSERT_OK_AND_ASSIGN(std::vector<Row> rows,
                       Parse("# about\na\tb\n\nx\t1\r\n# more\ny\t\n", "t.tsv", "a\tb"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].line, 4);
  EXPECT_THAT(rows[0].fields, ElementsAre("x", "1"));
  EXPECT_EQ(rows[1].line, 6);
  EXPECT_THAT(rows[1].fields, ElementsAre("y", ""));
}

TEST(Tsv, ErrorsNameTheFileAndLine) {
  EXPECT_THAT(Parse("a\tc\n", "t.tsv", "a\tb"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("t.tsv:1: the header")));
  EXPECT_THAT(Parse("a\tb\nx\n", "t.tsv", "a\tb"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("t.tsv:2: 1 fields, expected 2")));
  EXPECT_THAT(Parse("# only a comment\n", "t.tsv", "a\tb"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("t.tsv: no header")));
  Row row{7, {}};
  EXPECT_THAT(At("t.tsv", row, absl::InvalidArgumentError("low: bad")),
              StatusIs(absl::StatusCode::kInvalidArgument, "t.tsv:7: low: bad"));
}

TEST(Tsv, OptionalNumbers) {
  EXPECT_EQ(*OptionalNumber("low", "-"), std::nullopt);
  EXPECT_EQ(*OptionalNumber("low", "3.5"), 3.5);
  EXPECT_THAT(OptionalNumber("low", "abc"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("low")));
  EXPECT_THAT(OptionalNumber("low", "inf"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace meridian::tsv
