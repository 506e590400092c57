#include "libs/consent/consent.h"

#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"

namespace meridian::consent {
namespace {

TEST(OwnInstitutionOnlyTest, NeverPermitsAnyCategoryOrPurpose) {
  OwnInstitutionOnly checker;
  for (int c = v1::DataCategory_MIN; c <= v1::DataCategory_MAX; ++c) {
    for (int p = v1::Purpose_MIN; p <= v1::Purpose_MAX; ++p) {
      AccessRequest r{.accessor = {"city-hosp-1", orgs::Role::kCare},
                      .regional_id = "0b9e0d7e-7d8a-4b4e-9a59-1d3c3f1f2a10",
                      .category = static_cast<v1::DataCategory>(c),
                      .purpose = static_cast<v1::Purpose>(p),
                      .break_glass_reason = "unconscious on arrival"};
      absl::StatusOr<Decision> d = checker.Check(r);
      ASSERT_OK(d);
      EXPECT_FALSE(d->permitted());
      EXPECT_EQ(d->effect, v1::DENY);
      EXPECT_FALSE(d->decided_by.empty());
      EXPECT_FALSE(d->reason.empty());
    }
  }
}

TEST(DecisionTest, HasObligation) {
  Decision d{.effect = v1::PERMIT, .obligations = {v1::WITHHOLD_DOCUMENT_TEXT}};
  EXPECT_TRUE(d.permitted());
  EXPECT_TRUE(d.Has(v1::WITHHOLD_DOCUMENT_TEXT));
  EXPECT_FALSE(Decision{}.Has(v1::WITHHOLD_DOCUMENT_TEXT));
}

}  // namespace
}  // namespace meridian::consent
