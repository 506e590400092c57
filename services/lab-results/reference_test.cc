#include "services/lab-results/reference.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"

namespace meridian::labs {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::DoubleNear;
using ::testing::HasSubstr;
using ::testing::Optional;

TEST(Loinc, SyntaxAndCheckDigit) {
  for (const char* ok : {"2345-7", "718-7", "2160-0", "4548-4", "62238-1", "600-7", "10839-9"}) {
    EXPECT_TRUE(IsLoincCode(ok)) << ok;
  }
  for (const char* bad : {"2345-6", "2345", "-7", "123456-1", "2345-77", "23a5-7", "2345_7", "",
                          "2345-", " 2345-7"}) {
    EXPECT_FALSE(IsLoincCode(bad)) << bad;
  }
}

TEST(Units, ConvertWithinADimensionAndByMolarMass) {
  // Glucose 90 mg/dL = 4.995 mmol/L (molar mass 180.16).
  EXPECT_THAT(ConvertUnit(90, "mg/dL", "mmol/L", 180.16), Optional(DoubleNear(4.995, 0.001)));
  // Creatinine 1.0 mg/dL = 88.4 umol/L, and back.
  EXPECT_THAT(ConvertUnit(1.0, "mg/dL", "umol/L", 113.12), Optional(DoubleNear(88.4, 0.01)));
  EXPECT_THAT(ConvertUnit(88.4, "umol/L", "mg/dL", 113.12), Optional(DoubleNear(1.0, 0.001)));
  // Haemoglobin 13.5 g/dL = 135 g/L; counts; enzymes.
  EXPECT_THAT(ConvertUnit(13.5, "g/dL", "g/L"), Optional(DoubleNear(135, 1e-9)));
  EXPECT_THAT(ConvertUnit(7.2, "10*3/uL", "10*9/L"), Optional(DoubleNear(7.2, 1e-9)));
  EXPECT_THAT(ConvertUnit(1, "ukat/L", "U/L"), Optional(DoubleNear(60, 1e-9)));
  EXPECT_THAT(ConvertUnit(5, "%", "%"), Optional(5.0));
  // Mass to molar needs the molar mass; unrelated units never convert.
  EXPECT_EQ(ConvertUnit(90, "mg/dL", "mmol/L"), std::nullopt);
  EXPECT_EQ(ConvertUnit(1, "U/L", "mmol/L", 100.0), std::nullopt);
  EXPECT_EQ(ConvertUnit(1, "%", "g/L"), std::nullopt);
  EXPECT_EQ(ConvertUnit(1, "furlongs", "g/L"), std::nullopt);
}

TEST(ReferenceTable, TheShippedTablesLoad) {
  ASSERT_OK_AND_ASSIGN(ReferenceTable t, ReferenceTable::LoadDir(MERIDIAN_REFERENCE_DIR));
  EXPECT_GE(t.analyte_count(), 40u);
  EXPECT_GE(t.interval_count(), 40u);
  const Analyte* glucose = t.Find("2345-7");
  ASSERT_NE(glucose, nullptr);
  EXPECT_EQ(glucose->canonical_unit, "mmol/L");
  EXPECT_EQ(t.Find("5196-1")->kind, Analyte::Kind::kCoded);
  // Sex-specific bands before any-sex ones; adults by age.
  const ReferenceInterval* hb_f = t.IntervalFor("718-7", v1::FEMALE, 40);
  ASSERT_NE(hb_f, nullptr);
  EXPECT_EQ(hb_f->sex, 'F');
  const ReferenceInterval* hb_m = t.IntervalFor("718-7", v1::MALE, 40);
  ASSERT_NE(hb_m, nullptr);
  EXPECT_GT(*hb_m->low, *hb_f->low);
  // Unknown age matches only an all-ages band; unknown code nothing.
  EXPECT_EQ(t.IntervalFor("718-7", v1::MALE, std::nullopt), nullptr);
  EXPECT_EQ(t.IntervalFor("99999-9", v1::MALE, 40), nullptr);
}

TEST(ReferenceTable, BadTablesAreRefusedNamingFileAndLine) {
  const std::string header = "loinc\tname\tkind\tcanonical_unit\tmolar_mass\tunits\n";
  const std::string glucose =
      "2345-7\tGlucose\tnumeric\tmmol/L\t180.16\tmmol/L,mg/dL\n";
  const std::string ranges_header =
      "loinc\tsex\tage_min\tage_max\tlow\thigh\tcritical_low\tcritical_high\n";
  struct Case {
    std::string analytes, ranges, expected;
  };
  const std::vector<Case> cases = {
      {header + "2345-6\tGlucose\tnumeric\tmmol/L\t-\tmmol/L\n", ranges_header,
       "analytes.tsv:2: loinc"},
      {header + "2345-7\tGlucose\tnumeric\tmmol/L\t-\tmmol/L,mg/dL\n", ranges_header,
       "units: mg/dL does not convert"},
      {header + "2345-7\tGlucose\tnumeric\tmmol/L\t180\tmg/dL\n", ranges_header,
       "units: must list canonical_unit"},
      {header + "2345-7\tGlucose\tweird\tmmol/L\t-\tmmol/L\n", ranges_header, "kind"},
      {header + glucose + glucose, ranges_header, "analytes.tsv:3: loinc: listed twice"},
      {header + glucose, ranges_header + "2345-7\t*\t18\t200\t7\t3\t-\t-\n", "low: not below"},
      {header + glucose, ranges_header + "2345-7\t*\t18\t200\t3\t7\t4\t-\n",
       "critical_low: not below low"},
      {header + glucose, ranges_header + "2345-7\tX\t18\t200\t3\t7\t-\t-\n", "sex"},
      {header + glucose, ranges_header + "718-7\t*\t18\t200\t3\t7\t-\t-\n",
       "ranges.tsv:2: loinc: not a numeric analyte"},
      {header + glucose,
       ranges_header + "2345-7\tF\t18\t200\t3\t7\t-\t-\n2345-7\t*\t60\t200\t3\t8\t-\t-\n",
       "ranges.tsv:3: overlaps"},
      {header + glucose, ranges_header + "2345-7\t*\t18\t200\tabc\t7\t-\t-\n", "low: not a number"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ReferenceTable::Parse(c.analytes, c.ranges),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.expected)))
        << c.expected;
  }
  // Bands that do not overlap: by sex, by age.
  EXPECT_OK(ReferenceTable::Parse(
      header + glucose,
      ranges_header + "2345-7\tF\t18\t200\t3\t7\t-\t-\n2345-7\tM\t18\t200\t3\t8\t-\t-\n"
                      "2345-7\t*\t1\t18\t3\t8\t-\t-\n"));
}

}  // namespace
}  // namespace meridian::labs
