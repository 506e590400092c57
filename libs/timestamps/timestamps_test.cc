#include "libs/timestamps/timestamps.h"

#include "gtest/gtest.h"

namespace meridian::timestamps {
namespace {

TEST(TimestampsTest, RoundTripsMicrosecondsAndBoundsValidity) {
  const absl::Time t = absl::FromUnixMicros(1'700'000'000'123'456);
  google::protobuf::Timestamp p = ToProto(t);
  EXPECT_EQ(p.seconds(), 1'700'000'000);
  EXPECT_EQ(p.nanos(), 123'456'000);
  EXPECT_EQ(FromProto(p), t);
  EXPECT_TRUE(IsValid(p));
  p.set_nanos(1'000'000'000);
  EXPECT_FALSE(IsValid(p));
  p.set_nanos(0);
  p.set_seconds(253402300800LL);  // year 10000
  EXPECT_FALSE(IsValid(p));
  p.set_seconds(-62135596801LL);  // before year 1
  EXPECT_FALSE(IsValid(p));
  EXPECT_TRUE(IsValid(t));
  EXPECT_FALSE(IsValid(absl::FromUnixMicros(9223372036854775807LL)));
  EXPECT_FALSE(IsValid(absl::InfinitePast()));
}

}  // namespace
}  // namespace meridian::timestamps
