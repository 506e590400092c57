#include "services/records/validation.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "google/protobuf/util/time_util.h"
#include "libs/status/status_matchers.h"
#include "services/records/test_util.h"

namespace meridian::records {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(Icd10Test, AcceptsCategoriesSubcategoriesAndNationalExtensions) {
  for (const char* code : {"I10", "E11", "E11.9", "J18.900", "I10.x00", "I10.x00x002",
                           "A01.000x001", "U07.1", "S72.001A", "C34.9"}) {
    EXPECT_TRUE(IsIcd10Code(code)) << code;
  }
}

TEST(Icd10Test, RejectsWhatIsNotACode) {
  for (const char* code : {"", "I1", "i10", "110", "IA0", "I10.", "I10-", "E11.90000",
                           "E11.9 ", " E11.9", "E11..9", "E11.9x01", "E11.900X001",
                           "E11.a", "ICD10", "E11.900x0012"}) {
    EXPECT_FALSE(IsIcd10Code(code)) << code;
  }
}

TEST(LocalIdTest, PrintableAsciiWithoutSpacesUpTo64) {
  EXPECT_TRUE(IsValidLocalId("ENC-2024/0001:a"));
  EXPECT_TRUE(IsValidLocalId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidLocalId(std::string(65, 'a')));
  EXPECT_FALSE(IsValidLocalId(""));
  EXPECT_FALSE(IsValidLocalId("has space"));
  EXPECT_FALSE(IsValidLocalId("tab\t"));
  EXPECT_FALSE(IsValidLocalId("门诊1"));
}

class ValidateTest : public ::testing::Test {
 protected:
  absl::Time now_ = testing::kNow;
  orgs::Directory directory_ = testing::Directory();
};

TEST_F(ValidateTest, AcceptsAWellFormedEncounterDocumentAndReferral) {
  EXPECT_OK(ValidateEncounter(testing::Encounter("E-1", "P-1"), now_));
  EXPECT_OK(ValidateDocument(testing::Document("D-1", "P-1"), now_));
  EXPECT_OK(ValidateReferral(testing::Referral("R-1", "P-1", "city-hosp-1"),
                             "thc-riverside", directory_, now_));
}

TEST_F(ValidateTest, NamesTheFieldAndNeverEchoesTheValue) {
  v1::Encounter e = testing::Encounter("E-1", "P-1");
  e.mutable_diagnoses(1)->set_icd10_code("秘密-13800138000");
  absl::Status s = ValidateEncounter(e, now_);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("encounter.diagnoses[1].icd10_code")));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("13800138000")));

  e = testing::Encounter("E-1", "bad id with spaces");
  s = ValidateEncounter(e, now_);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("encounter.patient_local_id")));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("spaces with")));
}

TEST_F(ValidateTest, EnforcesTimeOrder) {
  using google::protobuf::util::TimeUtil;
  v1::Encounter e = testing::Encounter("E-1", "P-1");
  *e.mutable_end_time() = TimeUtil::SecondsToTimestamp(e.start_time().seconds() - 60);
  EXPECT_THAT(ValidateEncounter(e, now_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("encounter.end_time")));
  e = testing::Encounter("E-1", "P-1");
  *e.mutable_start_time() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(now_) + 3600);
  e.clear_end_time();
  EXPECT_THAT(ValidateEncounter(e, now_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("encounter.start_time: in the future")));
  e = testing::Encounter("E-1", "P-1");
  e.clear_start_time();
  EXPECT_THAT(ValidateEncounter(e, now_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("encounter.start_time: required")));
  e = testing::Encounter("E-1", "P-1");
  auto* p = e.add_procedures();
  p->set_code("36.06");
  *p->mutable_performed_at() = TimeUtil::SecondsToTimestamp(e.start_time().seconds() - 1);
  EXPECT_THAT(ValidateEncounter(e, now_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("encounter.procedures[0].performed_at")));
  e = testing::Encounter("E-1", "P-1");
  *e.mutable_start_time() = TimeUtil::SecondsToTimestamp(-3'000'000'000LL);
  EXPECT_THAT(ValidateEncounter(e, now_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("before 1900")));
}

TEST_F(ValidateTest, EnforcesSizes) {
  v1::Encounter e = testing::Encounter("E-1", "P-1");
  for (int i = 0; i < 51; ++i) e.add_diagnoses()->set_icd10_code("I10");
  EXPECT_THAT(ValidateEncounter(e, now_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("encounter.diagnoses")));
  e = testing::Encounter("E-1", "P-1");
  e.mutable_diagnoses(0)->set_primary(true);
  e.mutable_diagnoses(1)->set_primary(true);
  EXPECT_THAT(ValidateEncounter(e, now_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than one primary")));
  v1::ClinicalDocument d = testing::Document("D-1", "P-1");
  d.set_text(std::string(kMaxDocumentTextBytes + 1, 'x'));
  EXPECT_THAT(ValidateDocument(d, now_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("document.text")));
  d.set_text(std::string(kMaxDocumentTextBytes, 'x'));
  EXPECT_OK(ValidateDocument(d, now_));
}

TEST_F(ValidateTest, ReferralsGoToKnownCareInstitutionsOtherThanTheSender) {
  v1::Referral r = testing::Referral("R-1", "P-1", "no-such-hospital");
  EXPECT_THAT(ValidateReferral(r, "thc-riverside", directory_, now_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("referral.to_organisation_id")));
  r.set_to_organisation_id("pharm-central");
  EXPECT_THAT(ValidateReferral(r, "thc-riverside", directory_, now_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hospital or township")));
  r.set_to_organisation_id("thc-riverside");
  EXPECT_THAT(ValidateReferral(r, "thc-riverside", directory_, now_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("itself")));
  r = testing::Referral("R-1", "P-1", "city-hosp-1");
  r.set_icd10_code("not-a-code");
  EXPECT_THAT(ValidateReferral(r, "thc-riverside", directory_, now_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("referral.icd10_code")));
}

}  // namespace
}  // namespace meridian::records
