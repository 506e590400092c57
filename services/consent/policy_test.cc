#include "services/consent/policy.h"

#include "gtest/gtest.h"
#include "google/protobuf/util/time_util.h"
#include "libs/status/status_matchers.h"

namespace meridian::consent {
namespace {

using organisations::v1::OrganisationType;
const absl::Time kNow = absl::FromUnixSeconds(1780300800);

v1::Directive D(const std::string& id, v1::Effect effect) {
  v1::Directive d;
  d.set_directive_id(id);
  d.set_effect(effect);
  d.mutable_recipients()->set_everyone(true);
  return d;
}

PolicyRequest Q(v1::DataCategory category = v1::RECORDS, v1::Purpose purpose = v1::TREATMENT,
                const std::string& org = "city-hosp-1",
                OrganisationType type = organisations::v1::TERTIARY_HOSPITAL) {
  return {.accessor_organisation = org, .accessor_type = type, .category = category,
          .purpose = purpose, .now = kNow};
}

TEST(PolicyTest, RegionalDefaultsWhenNoDirectiveApplies) {
  RegionalDefaults defaults;
  Decision d = Decide({}, defaults, Q());
  EXPECT_TRUE(d.permitted());
  EXPECT_EQ(d.decided_by, "default:TREATMENT");
  d = Decide({}, defaults, Q(v1::RECORDS, v1::RESEARCH));
  EXPECT_FALSE(d.permitted());  // opt-in
  auto strict = RegionalDefaults::Parse("TREATMENT=deny, RESEARCH=deny");
  ASSERT_OK(strict);
  EXPECT_FALSE(Decide({}, *strict, Q()).permitted());
  EXPECT_FALSE(RegionalDefaults::Parse("TREATMENT=maybe").ok());
  EXPECT_FALSE(RegionalDefaults::Parse("EMERGENCY=permit").ok());
}

TEST(PolicyTest, TheMoreSpecificDirectiveWinsAndDenyBeatsPermitAtEqualSpecificity) {
  v1::Directive deny_all = D("deny-everyone", v1::DENY);
  v1::Directive permit_hospitals = D("permit-tertiary", v1::PERMIT);
  permit_hospitals.mutable_recipients()->mutable_organisation_types()->add_types(
      organisations::v1::TERTIARY_HOSPITAL);
  v1::Directive deny_one = D("deny-city-hosp-1-docs", v1::DENY);
  deny_one.mutable_recipients()->mutable_organisations()->add_ids("city-hosp-1");
  deny_one.add_categories(v1::DOCUMENTS);
  RegionalDefaults defaults;

  // Type beats everyone.
  Decision d = Decide({deny_all, permit_hospitals}, defaults, Q());
  EXPECT_TRUE(d.permitted());
  EXPECT_EQ(d.decided_by, "directive:permit-tertiary");
  // Named institution beats type, for its category only.
  d = Decide({deny_all, permit_hospitals, deny_one}, defaults, Q(v1::DOCUMENTS));
  EXPECT_FALSE(d.permitted());
  EXPECT_EQ(d.decided_by, "directive:deny-city-hosp-1-docs");
  EXPECT_TRUE(Decide({deny_all, permit_hospitals, deny_one}, defaults, Q()).permitted());
  // Another hospital type: only "everyone" applies.
  EXPECT_FALSE(Decide({deny_all, permit_hospitals}, defaults,
                      Q(v1::RECORDS, v1::TREATMENT, "county-hosp-east",
                        organisations::v1::SECONDARY_HOSPITAL))
                   .permitted());
  // Equal specificity: deny wins whatever the order.
  v1::Directive permit_all = D("permit-everyone", v1::PERMIT);
  EXPECT_FALSE(Decide({permit_all, deny_all}, defaults, Q()).permitted());
  EXPECT_FALSE(Decide({deny_all, permit_all}, defaults, Q()).permitted());
  // A named purpose beats "all purposes" at equal recipient and category.
  v1::Directive permit_treatment = D("permit-treatment", v1::PERMIT);
  permit_treatment.add_purposes(v1::TREATMENT);
  EXPECT_TRUE(Decide({deny_all, permit_treatment}, defaults, Q()).permitted());
}

TEST(PolicyTest, ValidityRevocationAndObligations) {
  using google::protobuf::util::TimeUtil;
  v1::Directive permit = D("p", v1::PERMIT);
  permit.add_obligations(v1::WITHHOLD_DOCUMENT_TEXT);
  RegionalDefaults strict = *RegionalDefaults::Parse("TREATMENT=deny");
  Decision d = Decide({permit}, strict, Q(v1::DOCUMENTS));
  EXPECT_TRUE(d.permitted());
  EXPECT_TRUE(d.Has(v1::WITHHOLD_DOCUMENT_TEXT));
  *permit.mutable_valid_until() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow));
  EXPECT_FALSE(Decide({permit}, strict, Q()).permitted());  // expired at now
  permit.clear_valid_until();
  *permit.mutable_valid_from() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow) + 1);
  EXPECT_FALSE(Decide({permit}, strict, Q()).permitted());  // not yet
  permit.clear_valid_from();
  *permit.mutable_revoked_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow) - 1);
  EXPECT_FALSE(Decide({permit}, strict, Q()).permitted());
}

TEST(PolicyTest, BreakTheGlassNeedsAReasonAndAHospital) {
  v1::Directive deny_all = D("deny", v1::DENY);
  PolicyRequest q = Q(v1::RECORDS, v1::EMERGENCY);
  Decision d = Decide({deny_all}, {}, q);
  EXPECT_FALSE(d.permitted());
  q.break_glass_reason = "unconscious on arrival, suspected overdose";
  d = Decide({deny_all}, {}, q);
  EXPECT_TRUE(d.permitted());
  EXPECT_EQ(d.decided_by, kBreakGlass);
  q.accessor_type = organisations::v1::PHARMACY;
  EXPECT_FALSE(Decide({deny_all}, {}, q).permitted());
  q.accessor_type = organisations::v1::TOWNSHIP_HEALTH_CENTRE;
  EXPECT_FALSE(Decide({deny_all}, {}, q).permitted());
}

}  // namespace
}  // namespace meridian::consent
