#include "services/prescriptions/safety.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"

namespace meridian::prescriptions {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;

class SafetyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    formulary_ = new Formulary(*Formulary::LoadDir(MERIDIAN_FORMULARY_DIR));
  }
  static v1::PrescriptionItem Item(const std::string& code, double dose,
                                   const std::string& unit, v1::Frequency frequency) {
    v1::PrescriptionItem item;
    item.set_drug_code(code);
    item.set_dose(dose);
    item.set_dose_unit(unit);
    item.set_frequency(frequency);
    return item;
  }
  static std::vector<v1::SafetyFinding> Check(std::vector<v1::PrescriptionItem> items,
                                              std::vector<ActiveDrug> active = {}) {
    google::protobuf::RepeatedPtrField<v1::PrescriptionItem> field(items.begin(), items.end());
    return CheckSafety(*formulary_, field, active);
  }
  static const Drug& D(const std::string& code) { return *formulary_->Find(code); }
  static Formulary* formulary_;
};
Formulary* SafetyTest::formulary_ = nullptr;

TEST_F(SafetyTest, DailyDoseConvertsUnits) {
  // 2 capsules of 500 mg three times a day = 3000 mg.
  EXPECT_DOUBLE_EQ(*DailyDose(D("J01CA04-C500"), Item("J01CA04-C500", 2, "capsule", v1::TID)),
                   3000);
  // 0.5 g twice a day = 1000 mg.
  EXPECT_DOUBLE_EQ(*DailyDose(D("J01CA04-C500"), Item("J01CA04-C500", 0.5, "g", v1::BID)), 1000);
  // Salbutamol 200 ug four times a day = 800 ug (the maximum is in ug).
  EXPECT_DOUBLE_EQ(*DailyDose(D("R03AC02-H100"), Item("R03AC02-H100", 200, "ug", v1::QID)), 800);
  // Ibuprofen suspension 20 mg/mL: 10 mL three times a day = 600 mg.
  EXPECT_DOUBLE_EQ(*DailyDose(D("M01AE01-S20"), Item("M01AE01-S20", 10, "mL", v1::TID)), 600);
  // PRN counts its maximum doses a day.
  v1::PrescriptionItem prn = Item("N02BE01-T500", 1000, "mg", v1::PRN);
  prn.set_prn_max_doses_per_day(4);
  EXPECT_DOUBLE_EQ(*DailyDose(D("N02BE01-T500"), prn), 4000);
  // Insulin in IU; mg cannot become IU, nor IU mg.
  EXPECT_DOUBLE_EQ(*DailyDose(D("A10AE04-I1000"), Item("A10AE04-I1000", 20, "IU", v1::QN)), 20);
  EXPECT_THAT(DailyDose(D("A10AE04-I1000"), Item("A10AE04-I1000", 2, "mg", v1::QD)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dose_unit")));
  EXPECT_THAT(DailyDose(D("J01CA04-C500"), Item("J01CA04-C500", 5, "mL", v1::QD)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dose_unit")));
  EXPECT_THAT(DailyDose(D("J01CA04-C500"), Item("J01CA04-C500", 1, "tablet", v1::QD)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dose_unit")));
}

TEST_F(SafetyTest, DoseAboveTheMaximumIsAWarning) {
  // Simvastatin max 40 mg: 40 is fine, 60 moderate, 100 (over twice) major.
  EXPECT_TRUE(Check({Item("C10AA01-T20", 40, "mg", v1::QD)}).empty());
  auto f = Check({Item("C10AA01-T20", 60, "mg", v1::QD)});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].kind(), v1::DOSE_ABOVE_MAXIMUM);
  EXPECT_EQ(f[0].severity(), v1::MODERATE);
  EXPECT_EQ(f[0].id(), "dose:0:C10AA01-T20");
  EXPECT_THAT(f[0].message(), HasSubstr("60 mg a day is above the maximum of 40 mg"));
  EXPECT_EQ(Check({Item("C10AA01-T20", 50, "mg", v1::BID)})[0].severity(), v1::MAJOR);
}

TEST_F(SafetyTest, InteractionsAndDuplicatesWithinAndAcrossPrescriptions) {
  // Clarithromycin with simvastatin in the same prescription: contraindicated.
  auto same = Check({Item("J01FA09-T250", 250, "mg", v1::BID),
                     Item("C10AA01-T20", 20, "mg", v1::QN)});
  ASSERT_EQ(same.size(), 1u);
  EXPECT_EQ(same[0].kind(), v1::INTERACTION);
  EXPECT_EQ(same[0].severity(), v1::CONTRAINDICATED);
  EXPECT_EQ(same[0].id(), "interaction:J01FA09-T250+C10AA01-T20");
  EXPECT_EQ(same[0].item_index(), 0);
  EXPECT_FALSE(same[0].other_institution());
  EXPECT_THAT(same[0].message(), HasSubstr("in the same prescription"));

  // Ibuprofen against warfarin elsewhere (major) and another NSAID here
  // (duplicate therapy).
  auto across = Check({Item("M01AE01-C300SR", 300, "mg", v1::BID)},
                      {{"B01AA03-T2P5", true}, {"M01AE01-S20", false}});
  ASSERT_EQ(across.size(), 2u);
  EXPECT_EQ(across[0].kind(), v1::INTERACTION);
  EXPECT_EQ(across[0].severity(), v1::MAJOR);
  EXPECT_EQ(across[0].other_drug_code(), "B01AA03-T2P5");
  EXPECT_TRUE(across[0].other_institution());
  EXPECT_THAT(across[0].message(), HasSubstr("another institution"));
  EXPECT_EQ(across[1].kind(), v1::DUPLICATE_THERAPY);
  EXPECT_EQ(across[1].other_drug_code(), "M01AE01-S20");
  EXPECT_FALSE(across[1].other_institution());

  // Nothing to say about amoxicillin and paracetamol.
  EXPECT_TRUE(Check({Item("J01CA04-C500", 500, "mg", v1::TID)}, {{"N02BE01-T500", true}})
                  .empty());
}

}  // namespace
}  // namespace meridian::prescriptions
