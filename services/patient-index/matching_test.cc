#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"
#include "services/patient-index/block_index.h"
#include "services/patient-index/compare.h"
#include "services/patient-index/han.h"
#include "services/patient-index/linker.h"
#include "services/patient-index/model.h"
#include "services/patient-index/resident_id.h"
#include "services/patient-index/text.h"

namespace meridian::patient {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(Han, PinyinAndSimplification) {
  EXPECT_EQ(ToPinyin("张三"), "zhangsan");
  EXPECT_EQ(ToPinyin("張三"), "zhangsan");  // traditional
  EXPECT_EQ(ToPinyin("吕 丽"), "lvli");     // u-umlaut as v
  EXPECT_EQ(ToPinyin("Li Na"), "lina");
  EXPECT_EQ(Simplified(U'陳'), U'陈');
  EXPECT_EQ(PinyinOf(U'陈'), "chen");
  EXPECT_EQ(PinyinOf(U'a'), "");
}

TEST(Text, NormalisesWidthSpacingCaseAndVariants) {
  EXPECT_EQ(NormalizeText("  ＡＢＣ　 def  "), "abc def");
  EXPECT_EQ(NormalizeText("張\t三"), "张 三");
  EXPECT_EQ(NormalizeName("张 三"), "张三");
  EXPECT_EQ(NormalizeName("O'Brien-Smith"), "obriensmith");
  EXPECT_EQ(DigitsOnly("138-0013 8000"), "13800138000");
  EXPECT_EQ(DigitsOnly("33010X"), "33010");  // X belongs to resident IDs only
  EXPECT_TRUE(IsCleanText("张三 Li"));
  EXPECT_FALSE(IsCleanText("bad\x01name"));
  EXPECT_FALSE(IsCleanText("bad\xff"));
  // Overlong '<', a UTF-16 surrogate, past U+10FFFF (name_fuzz).
  EXPECT_FALSE(IsCleanText("a\xc0\xbc"));
  EXPECT_FALSE(IsCleanText("\xed\xa0\x80"));
  EXPECT_FALSE(IsCleanText("\xf4\x90\x80\x80"));
  EXPECT_TRUE(IsCleanText("\xf0\x9f\x98\x80"));
}

// Textbook Jaro-Winkler (scan of the match window), the reference for the
// bit-parallel path short ASCII strings take.
double ReferenceJaroWinkler(const std::string& a, const std::string& b) {
  const int la = static_cast<int>(a.size()), lb = static_cast<int>(b.size());
  if (a == b) return la == 0 ? 0.0 : 1.0;
  if (la == 0 || lb == 0) return 0.0;
  const int window = std::max(0, std::max(la, lb) / 2 - 1);
  std::vector<bool> ma(la), mb(lb);
  int m = 0;
  for (int i = 0; i < la; ++i) {
    for (int j = std::max(0, i - window); j <= std::min(lb - 1, i + window); ++j) {
      if (!mb[j] && a[i] == b[j]) {
        ma[i] = mb[j] = true;
        ++m;
        break;
      }
    }
  }
  if (m == 0) return 0.0;
  int t = 0;
  for (int i = 0, j = 0; i < la; ++i) {
    if (!ma[i]) continue;
    while (!mb[j]) ++j;
    t += a[i] != b[j++];
  }
  const double jaro = (1.0 * m / la + 1.0 * m / lb + (m - t / 2.0) / m) / 3.0;
  int p = 0;
  while (p < 4 && p < la && p < lb && a[p] == b[p]) ++p;
  return jaro + p * 0.1 * (1.0 - jaro);
}

TEST(Compare, JaroWinklerEqualsTheTextbookScanOnRandomStrings) {
  std::mt19937 rng(5);
  for (int n = 0; n < 20000; ++n) {
    std::string a(rng() % 70, 'a'), b(rng() % 70, 'a');
    for (char& c : a) c = static_cast<char>('a' + rng() % 4);
    for (char& c : b) c = static_cast<char>('a' + rng() % 4);
    if (n % 3 == 0 && !a.empty()) b = a.substr(0, a.size() - 1) + "d";
    ASSERT_DOUBLE_EQ(JaroWinkler(a, b), ReferenceJaroWinkler(a, b)) << a << " / " << b;
  }
}

TEST(Compare, JaroWinklerAndEdits) {
  EXPECT_NEAR(JaroWinkler("martha", "marhta"), 0.961, 0.001);
  EXPECT_NEAR(JaroWinkler("dixon", "dicksonx"), 0.813, 0.001);
  EXPECT_EQ(JaroWinkler("", "x"), 0.0);
  EXPECT_TRUE(IsTransposition("13800138000", "13800183000"));
  struct Case {
    const char* a;
    const char* b;
    bool within_one;
  };
  for (const Case& c : {Case{"12345", "12345", true}, Case{"12345", "12395", true},
                        Case{"12345", "1245", true}, Case{"12345", "123456", true},
                        Case{"12345", "012345", true}, Case{"", "1", true},
                        Case{"1", "", true}, Case{"", "", true},
                        Case{"12345", "13245", false}, Case{"12345", "54321", false},
                        Case{"123", "12345", false}, Case{"12345", "12", false}}) {
    EXPECT_EQ(WithinOneEdit(c.a, c.b), c.within_one) << c.a << " / " << c.b;
  }
  EXPECT_FALSE(IsTransposition("123", "321"));
}

TEST(Compare, Dates) {
  EXPECT_EQ(CompareDates("19900307", "19900307"), DateMatch::kExact);
  EXPECT_EQ(CompareDates("19900307", "19900703"), DateMatch::kNear);  // swap
  EXPECT_EQ(CompareDates("19900307", "19910307"), DateMatch::kNear);  // year
  EXPECT_EQ(CompareDates("19900307", "19900308"), DateMatch::kNear);  // digit
  EXPECT_EQ(CompareDates("19900307", "19901225"), DateMatch::kSameYear);
  EXPECT_EQ(CompareDates("19900307", "19750101"), DateMatch::kDifferent);
}

// A synthetic resident ID with a correct check character.
std::string Rid(const std::string& first17) {
  return first17 + ResidentIdCheckChar(first17);
}

TEST(ResidentId, ValidatesStructureDateAndCheckCharacter) {
  const std::string id = Rid("11010519491231002");
  ASSERT_OK_AND_ASSIGN(ResidentId r, ParseResidentId(id, "resident_id", "20261204"));
  EXPECT_EQ(r.birth_date, "19491231");
  EXPECT_EQ(r.region_code, "110105");
  EXPECT_FALSE(r.male);  // 002: even
  EXPECT_EQ(ResidentIdCheckChar("11010519491231002"), 'X');

  std::string wrong = id;
  wrong[17] = wrong[17] == '1' ? '2' : '1';
  EXPECT_THAT(ParseResidentId(wrong, "identifiers[0].value", "20261204"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("identifiers[0].value"),
                                        HasSubstr("check character"),
                                        Not(HasSubstr(wrong)))));
  EXPECT_THAT(ParseResidentId(Rid("99010519491231002"), "f", "20261204"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("province")));
  EXPECT_THAT(ParseResidentId(Rid("11010519490231002"), "f", "20261204"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("birth date")));
  EXPECT_THAT(ParseResidentId(Rid("11010520300101002"), "f", "20261204"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("future")));
  EXPECT_THAT(ParseResidentId("1101051949", "f", "20261204"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("18")));
}

TEST(ResidentId, ConvertsLegacyFifteenDigits) {
  ASSERT_OK_AND_ASSIGN(ResidentId r,
                       ParseResidentId("110105491231002", "f", "20261204"));
  EXPECT_EQ(r.value, Rid("11010519491231002"));
  EXPECT_EQ(r.birth_date, "19491231");
}

MatchRecord Person(std::string family, std::string given, std::string dob,
                   std::string phone = "", std::string address = "") {
  MatchRecord r;
  r.family = NormalizeName(family);
  r.given = NormalizeName(given);
  r.birth_date = std::move(dob);
  r.phone = std::move(phone);
  r.address = NormalizeText(address);
  r.sex = "f";
  DerivePinyin(&r);
  return r;
}

TEST(Model, HomophoneNamesComeOutClose) {
  Levels l = Compare(Person("张", "丽", "19900307"), Person("章", "莉", "19900307"));
  EXPECT_EQ(l[kFamily], 1);  // different characters, same pinyin
  EXPECT_EQ(l[kGiven], 1);
  EXPECT_EQ(l[kBirthDate], 0);
}

TEST(Model, SwappedNamesAreRecognised) {
  Levels l = Compare(Person("green", "mitchell", "19560409"),
                     Person("mitchell", "green", "19560409"));
  EXPECT_EQ(l[kFamily], 1);
  EXPECT_EQ(l[kGiven], 1);
}

TEST(Model, CommonSurnameWeighsLessThanRareOne) {
  Model model;
  TermFrequencies tf;
  for (int i = 0; i < 99; ++i) tf.Add(Person("王", "x" + std::to_string(i), ""));
  tf.Add(Person("欧阳", "y", ""));
  model.set_term_frequencies(std::move(tf));
  Score common = model.ScorePair(Person("王", "a", ""), Person("王", "b", ""));
  Score rare = model.ScorePair(Person("欧阳", "a", ""), Person("欧阳", "b", ""));
  EXPECT_LT(common.fields[kFamily].weight, rare.fields[kFamily].weight);
}

TEST(Model, EmLearnsThatAgreementIndicatesMatch) {
  // 200 people, each registered twice with small errors, plus the pairs that
  // blocking would also produce between different people of the same year.
  std::vector<MatchRecord> records;
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < 200; ++i) {
    std::string dob = "19" + std::to_string(50 + i % 40) + "0" +
                      std::to_string(1 + i % 9) + "1" + std::to_string(i % 9);
    std::string phone = "1380013" + std::to_string(1000 + i);
    records.push_back(Person("fam" + std::to_string(i), "giv" + std::to_string(i), dob, phone));
    MatchRecord dup = records.back();
    if (i % 3 == 0) dup.phone[10] = dup.phone[10] == '1' ? '2' : '1';
    records.push_back(dup);
    pairs.emplace_back(2 * i, 2 * i + 1);
    if (i > 0) pairs.emplace_back(2 * i, 2 * i - 2);
  }
  Model model;
  EXPECT_GT(model.Train(records, pairs, 20000), 1);
  const ModelParameters& p = model.parameters();
  EXPECT_GT(p.m[kBirthDate][0], 0.9);
  EXPECT_LT(p.u[kBirthDate][0], 0.05);
  EXPECT_NEAR(p.prior, 0.5, 0.1);
  Score same = model.ScorePair(records[0], records[1]);
  Score other = model.ScorePair(records[0], records[2]);
  EXPECT_GT(same.probability, 0.99);
  EXPECT_LT(other.probability, 0.01);
  EXPECT_THAT(model.Describe(), HasSubstr("birth_date"));
}

TEST(Model, ParametersRoundTripAndBadTextIsRejected) {
  Model model;
  ASSERT_OK_AND_ASSIGN(ModelParameters back,
                       Model::ParseParameters(model.SerializeParameters()));
  EXPECT_DOUBLE_EQ(back.prior, model.parameters().prior);
  EXPECT_DOUBLE_EQ(back.m[kGiven][1], model.parameters().m[kGiven][1]);
  EXPECT_DOUBLE_EQ(back.u[kOtherId][2], model.parameters().u[kOtherId][2]);
  EXPECT_THAT(Model::ParseParameters("m nosuchfield 0 0.5"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown field")));
  EXPECT_THAT(Model::ParseParameters("m sex 7 0.5"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad level")));
  EXPECT_THAT(Model::ParseParameters("prior 1.5"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("prior")));
}

TEST(Linker, DeterministicOnResidentIdAndNeverAcrossDifferentIds) {
  Model model;
  MatchRecord a = Person("张", "三", "19491231");
  a.resident_id = Rid("11010519491231001");
  MatchRecord b = Person("章", "山", "19700101");  // very different
  b.resident_id = a.resident_id;
  MatchResult r = Decide(model, a, {&b}, MatchOptions());
  EXPECT_EQ(r.decision, Decision::kMatchedDeterministically);

  MatchRecord c = a;
  c.resident_id = Rid("11010519491231003");  // identical person data, other ID
  r = Decide(model, a, {&c}, MatchOptions{.auto_link_threshold = 0.5,
                                          .review_threshold = 0.1});
  EXPECT_EQ(r.decision, Decision::kNewWithReview);
}

TEST(Linker, TwinsAreNeverAutoLinked) {
  Model model;
  MatchRecord a = Person("李", "明", "20100505", "13800138000", "幸福路1号");
  MatchRecord b = Person("李", "强", "20100505", "13800138000", "幸福路1号");
  MatchResult r = Decide(model, a, {&b}, MatchOptions{.auto_link_threshold = 0.5,
                                                      .review_threshold = 0.1});
  EXPECT_NE(r.decision, Decision::kAutoLinked);
  EXPECT_EQ(r.decision, Decision::kNewWithReview);
}

TEST(Linker, KeptApartPairsAreNeverLinkedOrReviewedAgain) {
  Model model;
  MatchRecord a = Person("王", "芳", "19800101", "13900000000");
  a.id = 1;
  MatchRecord b = a;
  b.id = 2;
  MatchOptions o{.auto_link_threshold = 0.5, .review_threshold = 0.1};
  EXPECT_EQ(Decide(model, a, {&b}, o).decision, Decision::kAutoLinked);
  auto apart = [](const MatchRecord& x, const MatchRecord& y) {
    return x.id + y.id == 3;
  };
  // Neither linked nor asked about again.
  EXPECT_EQ(Decide(model, a, {&b}, o, apart).decision, Decision::kNew);
  // Not even through an equal resident ID.
  a.resident_id = b.resident_id = "110105198001010029";
  EXPECT_EQ(Decide(model, a, {&b}, o, apart).decision, Decision::kNew);
}

TEST(BlockIndex, FindsByAnyKeyWithCaps) {
  BlockIndex index;
  std::vector<MatchRecord> people;
  for (int i = 0; i < 100; ++i) {
    people.push_back(Person("zhou", "x" + std::to_string(i), "19900101"));
    index.Add(i, people.back());
  }
  MatchRecord probe = Person("zhou", "x5", "19900101");
  std::vector<int> capped = index.Candidates(probe, 10, 1000);
  // Shared keys (birth date; family name + year) give 10 each at most; the
  // exact-name keys add x5 itself.
  EXPECT_EQ(capped.size(), 21u);
  EXPECT_THAT(capped, ::testing::Contains(5));
  EXPECT_LE(index.Candidates(probe, 50, 20).size(), 20u);
  MatchRecord swapped = Person("x7", "zhou", "");
  std::vector<int> c = index.Candidates(swapped, 10, 100);
  EXPECT_THAT(c, ::testing::Contains(7));
}

}  // namespace
}  // namespace meridian::patient
