#include "libs/orgs/directory.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"

namespace meridian::orgs {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kTwo[] = R"pb(
  organisation {
    id: "city-hosp-1"
    name: "City Hospital"
    type: TERTIARY_HOSPITAL
    district_code: "330102"
  }
  organisation {
    id: "pharm-1"
    name: "Pharmacy"
    type: PHARMACY
    district_code: "330103"
  }
)pb";

TEST(Directory, ParsesAndFinds) {
  ASSERT_OK_AND_ASSIGN(Directory d, Directory::FromText(kTwo));
  EXPECT_EQ(d.size(), 2u);
  const Organisation* o = d.Find("pharm-1");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(RoleOf(o->type()), Role::kPharmacy);
  EXPECT_EQ(RoleOf(d.Find("city-hosp-1")->type()), Role::kCare);
  EXPECT_EQ(d.Find("nobody"), nullptr);
}

TEST(Directory, RolesCoverEveryType) {
  EXPECT_EQ(RoleOf(organisations::v1::TOWNSHIP_HEALTH_CENTRE), Role::kCare);
  EXPECT_EQ(RoleOf(organisations::v1::LAB), Role::kLab);
  EXPECT_EQ(RoleOf(organisations::v1::HEALTH_AUTHORITY), Role::kAuthority);
  EXPECT_EQ(RoleOf(organisations::v1::OPERATOR), Role::kOperator);
  EXPECT_EQ(RoleName(Role::kOperator), "operator");
}

TEST(Directory, RejectsBadEntriesNamingTheField) {
  EXPECT_THAT(Directory::FromText(R"pb(organisation { id: "X" })pb"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("organisation[0].id")));
  EXPECT_THAT(
      Directory::FromText(
          R"pb(organisation { id: "a1" name: "n" type: LAB district_code: "12" })pb"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("district_code")));
  EXPECT_THAT(Directory::FromText(
                  R"pb(organisation { id: "a1" name: "n" district_code: "123456" })pb"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(".type")));
  EXPECT_THAT(Directory::FromText(absl::StrCat(
                  kTwo, R"pb(organisation { id: "pharm-1" name: "again" type: LAB district_code: "123456" })pb")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("duplicate")));
  EXPECT_THAT(Directory::FromText("not { valid"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Directory::FromText(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(Directory::LoadFile("/nonexistent"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(Directory, ShippedDirectoryLoads) {
  ASSERT_OK_AND_ASSIGN(Directory d, Directory::LoadFile(MERIDIAN_ORGANISATIONS_FILE));
  EXPECT_GE(d.size(), 8u);
}

}  // namespace
}  // namespace meridian::orgs
