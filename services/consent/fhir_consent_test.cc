#include "services/consent/fhir_consent.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "google/protobuf/util/time_util.h"
#include "libs/status/status_matchers.h"

namespace meridian::consent {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Example(const std::string& name) {
  std::ifstream in(std::string(MERIDIAN_FHIR_EXAMPLES) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(FhirConsentTest, TheBasicExampleBecomesAPermitForEveryoneOverItsPeriod) {
  auto d = DirectiveFromFhirConsent(Example("Consent-consent-example-basic.json"), {});
  ASSERT_OK(d);
  EXPECT_EQ(d->effect(), v1::PERMIT);
  EXPECT_TRUE(d->recipients().everyone());
  EXPECT_EQ(d->source_reference(), "Consent/consent-example-basic");
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(d->valid_from()), "1964-01-01T00:00:00Z");
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(d->valid_until()), "2016-01-01T00:00:00Z");
}

TEST(FhirConsentTest, TheNotOrgExampleDeniesTheNamedOrganisation) {
  const std::string json = Example("Consent-consent-example-notOrg.json");
  EXPECT_THAT(DirectiveFromFhirConsent(json, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("provision.actor[0].reference")));
  auto d = DirectiveFromFhirConsent(json, {{"Organization/f001", "county-hosp-east"}});
  ASSERT_OK(d);
  EXPECT_EQ(d->effect(), v1::DENY);
  EXPECT_THAT(d->recipients().organisations().ids(), ElementsAre("county-hosp-east"));
}

TEST(FhirConsentTest, RefusesWhatItCannotMapWithTheElement) {
  EXPECT_THAT(DirectiveFromFhirConsent("{not json", {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("resource_json")));
  EXPECT_THAT(DirectiveFromFhirConsent(R"({"resourceType":"Patient","id":"x"})", {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("resourceType")));
  EXPECT_THAT(DirectiveFromFhirConsent(
                  R"({"resourceType":"Consent","id":"bad id!","status":"active"})", {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("id: required: a FHIR id")));
  EXPECT_THAT(DirectiveFromFhirConsent(
                  R"({"resourceType":"Consent","id":"x","status":"draft"})", {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("status")));
  EXPECT_THAT(DirectiveFromFhirConsent(
                  R"({"resourceType":"Consent","id":"x","status":"active",
                      "provision":{"purpose":[{"code":"MARKETING"}]}})", {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("provision.purpose[0]")));
  EXPECT_THAT(DirectiveFromFhirConsent(
                  R"({"resourceType":"Consent","id":"x","status":"active",
                      "provision":{"provision":[{}]}})", {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("provision.provision")));
  EXPECT_THAT(DirectiveFromFhirConsent(
                  R"({"resourceType":"Consent","id":"x","status":"active",
                      "provision":{"type":42}})", {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto research = DirectiveFromFhirConsent(
      R"({"resourceType":"Consent","id":"r","status":"active",
          "provision":{"type":"permit","purpose":[{"code":"HRESCH"}]}})", {});
  ASSERT_OK(research);
  EXPECT_THAT(research->purposes(), ElementsAre(v1::RESEARCH));
  // An empty actor list names no one: everyone, as without one (it was an
  // empty organisation list, which the registry refuses).
  auto no_actor = DirectiveFromFhirConsent(
      R"({"resourceType":"Consent","id":"a","status":"active","provision":{"actor":[]}})", {});
  ASSERT_OK(no_actor);
  EXPECT_TRUE(no_actor->recipients().everyone());
}

}  // namespace
}  // namespace meridian::consent
