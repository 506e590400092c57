#include "libs/fields/fields.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"

namespace meridian::fields {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseDate, OnlyRealDatesInTheExactForm) {
  EXPECT_EQ(ParseDate("1980-06-15"), absl::CivilDay(1980, 6, 15));
  EXPECT_EQ(ParseDate("2024-02-29"), absl::CivilDay(2024, 2, 29));
  for (const char* bad : {"1980-02-30", "2023-02-29", "1980-6-15", "19800615", "1980/06/15",
                          "1980-06-15x", "", "abcd-ef-gh", "1980-13-01"}) {
    EXPECT_EQ(ParseDate(bad), std::nullopt) << bad;
  }
}

TEST(PageTokens, RoundTripAndRefuseForgeries) {
  const absl::Time t = absl::FromUnixMicros(1767225600123456);
  const std::string token = EncodePageToken(t, {"city-hosp-1", "RX:1"});
  ASSERT_OK_AND_ASSIGN(PageKey key, DecodePageToken(token, 2));
  EXPECT_EQ(key.time, t);
  EXPECT_THAT(key.keys, ElementsAre("city-hosp-1", "RX:1"));
  for (const std::string& forged : {std::string("garbage!"), EncodePageToken(t, {"a"}),
                                    EncodePageToken(t, {"a", ""}), std::string()}) {
    EXPECT_THAT(DecodePageToken(forged, 2),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")))
        << forged;
  }
}

}  // namespace
}  // namespace meridian::fields
