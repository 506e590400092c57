#include "libs/fhir/fhir.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"
#include "libs/timestamps/timestamps.h"

namespace meridian::fhir {
namespace {

using ::nlohmann::json;
using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;

absl::Time At(const json& v) { return timestamps::FromProto(*ParseTime(v, "x")); }

TEST(ParseTime, TakesInstantsDateTimesAndPartialDates) {
  EXPECT_EQ(At("2013-04-02T09:30:10+01:00"), absl::FromUnixSeconds(1364891410));
  EXPECT_EQ(At("2013-04-02T09:30:10.125Z"),
            absl::FromUnixSeconds(1364895010) + absl::Milliseconds(125));
  EXPECT_EQ(At("2013-04-02"), absl::FromUnixSeconds(1364860800));
  EXPECT_EQ(At("2013-04"), absl::FromUnixSeconds(1364774400));
  EXPECT_EQ(At("2013"), absl::FromUnixSeconds(1356998400));
}

TEST(ParseTime, RefusesWhatIsNotADateNamingTheElement) {
  for (const json& bad : {json("yesterday"), json("2013-13-01"), json(20130402), json(nullptr),
                          json("2013-04-02T25:00:00Z"), json("0000-01-01")}) {
    EXPECT_THAT(ParseTime(bad, "period.start"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("period.start: not a FHIR date or dateTime")))
        << bad.dump();
  }
}

TEST(Codings, CodeInASystemAndTheConceptsText) {
  json codeable = json::parse(R"({"coding": [
      {"system": "http://snomed.info/sct", "code": "39065001", "display": "Burn of ear"},
      {"system": "http://hl7.org/fhir/sid/icd-10", "code": "T20.0"}],
    "text": "Burnt ear"})");
  EXPECT_EQ(CodeIn(codeable, "http://hl7.org/fhir/sid/icd-10"), "T20.0");
  EXPECT_EQ(CodeIn(codeable, "http://loinc.org"), std::nullopt);
  EXPECT_EQ(TextOf(codeable), "Burnt ear");
  codeable.erase("text");
  EXPECT_EQ(TextOf(codeable), "Burn of ear");
  EXPECT_EQ(CodeIn(json("not a codeable"), "x"), std::nullopt);
  EXPECT_EQ(TextOf(json::array()), "");
}

TEST(References, SplitsRelativeAndAbsoluteButNotLocalOnes) {
  auto split = [](absl::string_view r) {
    auto t = SplitReference(r);
    return t ? t->type + "|" + t->id : std::string("none");
  };
  EXPECT_EQ(split("Patient/example"), "Patient|example");
  EXPECT_EQ(split("http://example.org/fhir/Observation/f001/_history/2"), "Observation|f001");
  EXPECT_EQ(split("Practitioner/f201"), "Practitioner|f201");
  EXPECT_EQ(split("#med1"), "none");
  EXPECT_EQ(split("urn:uuid:04121321-4af5-424c-a0e1-ed3aab1c349d"), "none");
  EXPECT_EQ(split("Patient/"), "none");
  EXPECT_EQ(split("patient/x"), "none");
  EXPECT_EQ(split("Patient/has space"), "none");
  EXPECT_TRUE(IsId("pat-1.a"));
  EXPECT_FALSE(IsId(""));
  EXPECT_FALSE(IsId(std::string(65, 'a')));
  EXPECT_FALSE(IsId("a_b"));
}

}  // namespace
}  // namespace meridian::fhir
