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

TEST(Uuid, FormatUuidWritesTheCanonicalText) {
  const std::string bytes("\x12\x3e\x45\x67\xe8\x9b\x42\xd3\xa4\x56\x42\x66\x14\x17\x40\x00",
                          16);
  EXPECT_EQ(FormatUuid(bytes), "123e4567-e89b-42d3-a456-426614174000");
  EXPECT_EQ(FormatUuid("short"), "");
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


TEST(RandomCode, UsesOnlyTheAlphabetAndEveryCharacterOfIt) {
  constexpr char kAlphabet[] = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
  std::set<char> seen;
  std::set<std::string> codes;
  for (int i = 0; i < 2000; ++i) {
    const std::string code = RandomCode(8, kAlphabet);
    ASSERT_EQ(code.size(), 8u);
    for (char c : code) {
      ASSERT_NE(std::string(kAlphabet).find(c), std::string::npos) << code;
      seen.insert(c);
    }
    codes.insert(code);
  }
  EXPECT_EQ(seen.size(), sizeof(kAlphabet) - 1);  // 16,000 draws reach all 31
  EXPECT_EQ(codes.size(), 2000u);                  // 31^8 codes: no repeats
}

}  // namespace
}  // namespace meridian::ids
