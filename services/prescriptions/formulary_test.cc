#include "services/prescriptions/formulary.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"

namespace meridian::prescriptions {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kHeader[] =
    "code\tname\tname_zh\tatc\tform\tstrength\tstrength_unit\tdispense_unit\t"
    "therapy_class\tantibiotic\tmax_daily_dose\tmax_daily_unit\n";
constexpr char kSimvastatin[] =
    "C10AA01-T20\tSimvastatin 20 mg tablet\t辛伐他汀片\tC10AA01\ttablet\t20\tmg\ttablet\t"
    "statin\tfalse\t40\tmg\n";
constexpr char kClarithromycin[] =
    "J01FA09-T250\tClarithromycin 250 mg tablet\t克拉霉素片\tJ01FA09\ttablet\t250\tmg\t"
    "tablet\tmacrolide\ttrue\t1000\tmg\n";
constexpr char kPairs[] = "atc_a\tatc_b\tseverity\tdescription\n";

TEST(Formulary, TheShippedTablesLoadAndAreConsistent) {
  ASSERT_OK_AND_ASSIGN(Formulary f, Formulary::LoadDir(MERIDIAN_FORMULARY_DIR));
  EXPECT_GE(f.drug_count(), 100u);
  EXPECT_GE(f.interaction_count(), 50u);
  const Drug* amoxicillin = f.Find("J01CA04-C500");
  ASSERT_NE(amoxicillin, nullptr);
  EXPECT_TRUE(amoxicillin->antibiotic);
  EXPECT_EQ(amoxicillin->atc, "J01CA04");
  EXPECT_EQ(f.Find("NOPE"), nullptr);
  // Prefix entries match every drug under them, in either order.
  const Interaction* i = f.InteractionOf("M01AE01", "B01AA03");  // ibuprofen, warfarin
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(i->severity, v1::MAJOR);
  ASSERT_NE(f.InteractionOf("C01DA14", "G04BE03"), nullptr);  // nitrate, sildenafil
  EXPECT_EQ(f.InteractionOf("C01DA14", "G04BE03")->severity, v1::CONTRAINDICATED);
  EXPECT_EQ(f.InteractionOf("J01CA04", "N02BE01"), nullptr);
}

TEST(Formulary, ParsesCommentsAndPrefixes) {
  ASSERT_OK_AND_ASSIGN(
      Formulary f,
      Formulary::Parse(absl::StrCat(kHeader, "# a comment\n\n", kSimvastatin, kClarithromycin),
                       absl::StrCat(kPairs, "J01FA\tC10AA01\tcontraindicated\tmyopathy\n")));
  EXPECT_EQ(f.drug_count(), 2u);
  ASSERT_NE(f.InteractionOf("C10AA01", "J01FA09"), nullptr);
  EXPECT_EQ(f.InteractionOf("C10AA01", "J01FA09")->description, "myopathy");
}

TEST(Formulary, BadTablesAreRefusedNamingFileLineAndColumn) {
  struct Case {
    std::string drugs;
    std::string pairs;
    std::string expected;
  };
  const std::string ok_drugs = absl::StrCat(kHeader, kSimvastatin);
  const std::vector<Case> cases = {
      {"code\tname\n", kPairs, "drugs.tsv:1: the header"},
      {absl::StrCat(kHeader, "C10AA01-T20\tx\n"), kPairs, "drugs.tsv:2: 2 fields"},
      {absl::StrCat(kHeader, kSimvastatin, kSimvastatin), kPairs, "drugs.tsv:3: code"},
      {absl::StrCat(kHeader,
                    "C10AA1-T20\tS\tS\tC10AA1\ttablet\t20\tmg\ttablet\tstatin\tfalse\t40\tmg\n"),
       kPairs, "drugs.tsv:2: atc"},
      {absl::StrCat(kHeader,
                    "C10AA01-T20\tS\tS\tC10AA01\ttablet\t-20\tmg\ttablet\tstatin\tfalse\t40\tmg\n"),
       kPairs, "strength"},
      {absl::StrCat(kHeader,
                    "C10AA01-T20\tS\tS\tC10AA01\ttablet\t20\tmg\ttablet\tstatin\tyes\t40\tmg\n"),
       kPairs, "antibiotic"},
      {absl::StrCat(kHeader,
                    "C10AA01-T20\tS\tS\tC10AA01\ttablet\t20\tmg\ttablet\tstatin\tfalse\t40\tkg\n"),
       kPairs, "max_daily_unit"},
      {absl::StrCat(kHeader,
                    "J01AA01-T20\tS\tS\tC10AA01\ttablet\t20\tmg\ttablet\tstatin\tfalse\t40\tmg\n"),
       kPairs, "code"},
      {ok_drugs, absl::StrCat(kPairs, "C10AA01\tN02BE01\tmajor\tx\n"),
       "interactions.tsv:2: atc_b: matches no drug"},
      {ok_drugs, absl::StrCat(kPairs, "C10AA01\tC10\tsevere\tx\n"), "severity"},
      {ok_drugs, absl::StrCat(kPairs, "C10AA01\tC1\tmajor\tx\n"), "atc_b: not an ATC"},
      {ok_drugs, absl::StrCat(kPairs, "C10\tC10AA01\tmajor\tx\nC10AA01\tC10\tminor\ty\n"),
       "interactions.tsv:3: this pair is listed twice"},
      {absl::StrCat(kHeader), kPairs, "no drugs"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Formulary::Parse(c.drugs, c.pairs),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.expected)))
        << c.expected;
  }
  EXPECT_THAT(Formulary::LoadDir("/nonexistent"), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace meridian::prescriptions
