#include "libs/ids/uuid.h"
#include "libs/ids/hash.h"

#include <set>

#include "gtest/gtest.h"

namespace meridian::ids {
namespace {

TEST(Uuid, NewIsWellFormedVersion4AndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = NewUuid();
    ASSERT_TRUE(IsUuid(u)) << u;
    EXPECT_EQ(u[14], '4');
    EXPECT_TRUE(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Uuid, IsUuidRejectsMalformed) {
  EXPECT_TRUE(IsUuid("123e4567-E89B-42d3-a456-426614174000"));
  EXPECT_FALSE(IsUuid(""));
  EXPECT_FALSE(IsUuid("123e4567e89b42d3a456426614174000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-42d3-a456-42661417400g"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-42d3-a456-4266141740000"));
  EXPECT_FALSE(IsUuid("'; DROP TABLE x; --aaaaaaaaaaaaaaaaaaa"));
}

TEST(Hash, Sha256HexKnownVector) {
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace meridian::ids
