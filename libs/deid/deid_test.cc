#include "libs/deid/deid.h"

#include <fstream>

#include "gmock/gmock.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "libs/status/status_matchers.h"
#include "meridian/events/v1/envelope.pb.h"
#include "meridian/patient/v1/patient_index.pb.h"
#include "meridian/prescriptions/v1/events.pb.h"

namespace meridian::deid {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using google::protobuf::util::TimeUtil;

const Key kKey{"k1", std::string(32, 's')};

std::unique_ptr<Deidentifier> Guard(const std::string& policy, std::vector<Key> keys = {kKey}) {
  absl::StatusOr<pv1::Policy> p = LoadPolicy(std::string(MERIDIAN_POLICY_DIR) + "/" + policy);
  EXPECT_OK(p);
  auto g = Deidentifier::Create(*p, std::move(keys));
  EXPECT_OK(g);
  return *std::move(g);
}

patient::v1::RegisterPatientRequest Person() {
  patient::v1::RegisterPatientRequest r;
  r.set_local_id("MRN-000123");
  auto* d = r.mutable_demographics();
  d->set_family_name("张");
  d->set_given_name("三丰");
  d->set_sex(patient::v1::SEX_MALE);
  d->set_birth_date("1980-06-15");
  d->set_phone("13800138000");
  d->mutable_address()->set_line("幸福路 12 号");
  d->mutable_address()->set_district_code("330102");
  d->mutable_address()->set_postcode("310002");
  auto* id = r.add_identifiers();
  id->set_type(patient::v1::RESIDENT_ID);
  id->set_value("11010519491231002X");
  return r;
}

const absl::Time kEventTime =
    absl::FromCivil(absl::CivilSecond(2026, 6, 10, 9, 30, 0), absl::FixedTimeZone(8 * 3600));

TEST(Deid, PublicHealthKeepsWhatAnalyticsNeedsAndNothingThatNamesThePerson) {
  auto guard = Guard("public_health.textproto");
  patient::v1::RegisterPatientRequest r = Person();
  ASSERT_OK(guard->Apply({.id = "regional-1", .as_of = kEventTime}, &r));
  const std::string out = r.DebugString();
  for (const char* gone : {"张", "三丰", "13800138000", "幸福路", "11010519491231002X",
                           "MRN-000123", "1980-06-15"}) {
    EXPECT_THAT(out, Not(HasSubstr(gone))) << gone;
  }
  EXPECT_THAT(r.local_id(), MatchesRegex("k1:[0-9a-f]{32}"));
  EXPECT_EQ(r.demographics().birth_date(), "45-49");  // 45 on 2026-06-10
  EXPECT_EQ(r.demographics().sex(), patient::v1::SEX_MALE);
  EXPECT_EQ(r.demographics().address().district_code(), "330102");
  EXPECT_EQ(r.demographics().address().postcode(), "310000");
  EXPECT_EQ(r.identifiers_size(), 0);
}

TEST(Deid, PseudonymsAreHmacSha256) {
  // RFC 4231 test case 6 (a key longer than the block is hashed first).
  auto rfc = Guard("public_health.textproto", {{"rfc", std::string(131, '\xaa')}});
  EXPECT_EQ(rfc->Pseudonym("Test Using Larger Than Block-Size Key - Hash Key First"),
            "rfc:60e431591ee0b67f0d8a26aacbf5b77f");
  // A 32-byte key (Python: hmac.new(b"s" * 32, b"MRN-1", sha256)).
  EXPECT_EQ(Guard("public_health.textproto")->Pseudonym("MRN-1"),
            "k1:6405020e4377ed3842b0af760da548c3");
}

TEST(Deid, PseudonymsLinkWithinAKeyAndRotateWithIt) {
  auto k1 = Guard("public_health.textproto");
  auto k2 = Guard("public_health.textproto", {{"k2", std::string(40, 't')}, kKey});
  EXPECT_EQ(k1->Pseudonym("MRN-1"), k1->Pseudonym("MRN-1"));
  EXPECT_NE(k1->Pseudonym("MRN-1"), k1->Pseudonym("MRN-2"));
  EXPECT_THAT(k2->Pseudonym("MRN-1"), MatchesRegex("k2:[0-9a-f]{32}"));
  EXPECT_NE(k2->Pseudonym("MRN-1").substr(3), k1->Pseudonym("MRN-1").substr(3));
}

TEST(Deid, EventsInsideEnvelopesAreJudgedFieldByField) {
  prescriptions::v1::PrescriptionChanged rx;
  rx.set_prescription_id("6f1c2a7e-0000-4000-8000-000000000001");
  rx.set_organisation_id("city-hosp-1");
  rx.set_patient_local_id("MRN-000123");
  *rx.mutable_occurred_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kEventTime));
  auto* item = rx.add_items();
  item->set_atc_code("J01CA04");
  item->set_antibiotic(true);
  events::v1::EventEnvelope env;
  env.set_event_id("e-1");
  env.set_type("prescription.issued");
  env.set_key("city-hosp-1/MRN-000123");
  env.set_regional_patient_id("regional-1");
  env.set_source_organisation("city-hosp-1");
  env.mutable_payload()->PackFrom(rx);

  auto research = Guard("research.textproto");
  events::v1::EventEnvelope out = env;
  ASSERT_OK(research->Apply({.id = "regional-1", .as_of = kEventTime}, &out));
  EXPECT_THAT(out.DebugString(), Not(HasSubstr("MRN-000123")));
  EXPECT_EQ(out.regional_patient_id(), research->Pseudonym("regional-1"));
  EXPECT_EQ(out.source_organisation(), "city-hosp-1");
  prescriptions::v1::PrescriptionChanged got;
  ASSERT_TRUE(out.payload().UnpackTo(&got));
  EXPECT_EQ(got.organisation_id(), "city-hosp-1");
  EXPECT_EQ(got.patient_local_id(), research->Pseudonym("MRN-000123"));
  EXPECT_EQ(got.items(0).atc_code(), "J01CA04");
  EXPECT_TRUE(got.items(0).antibiotic());
  // The patient's dates all move by the same shift, within bounds.
  const int shift = research->DateShiftDays("regional-1");
  EXPECT_LE(std::abs(shift), 30);
  EXPECT_EQ(got.occurred_at().seconds() - rx.occurred_at().seconds(), int64_t{shift} * 86400);
  int other_shifts = 0;
  for (int i = 0; i < 20; ++i) {
    other_shifts += research->DateShiftDays(absl::StrCat("p-", i)) != shift ? 1 : 0;
  }
  EXPECT_GT(other_shifts, 10);  // per patient, not one global shift
}

TEST(Deid, DatesCoarsenToTheWeekOrMonth) {
  pv1::Policy p;
  auto* rule = p.add_rules();
  rule->set_data_class(pv1::QUASI_IDENTIFIER);
  rule->set_kind(pv1::EVENT_TIME);
  rule->set_action(pv1::COARSEN_WEEK);
  p.add_rules()->CopyFrom(*rule);
  p.mutable_rules(1)->set_data_class(pv1::SAFE);
  p.mutable_rules(1)->clear_kind();
  p.mutable_rules(1)->set_action(pv1::KEEP);
  ASSERT_OK_AND_ASSIGN(auto week, Deidentifier::Create(p, {kKey}));
  prescriptions::v1::PrescriptionChanged rx;
  *rx.mutable_occurred_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kEventTime));
  ASSERT_OK(week->Apply({.id = "x"}, &rx));
  // 2026-06-10 is a Wednesday: Monday 2026-06-08, 00:00 in the region.
  EXPECT_EQ(rx.occurred_at().seconds(),
            absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(2026, 6, 8),
                                                absl::FixedTimeZone(8 * 3600))));
  p.mutable_rules(0)->set_action(pv1::COARSEN_MONTH);
  ASSERT_OK_AND_ASSIGN(auto month, Deidentifier::Create(p, {kKey}));
  *rx.mutable_occurred_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kEventTime));
  ASSERT_OK(month->Apply({.id = "x"}, &rx));
  EXPECT_EQ(rx.occurred_at().seconds(),
            absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(2026, 6, 1),
                                                absl::FixedTimeZone(8 * 3600))));
}

TEST(Deid, FailsClosed) {
  auto guard = Guard("public_health.textproto");
  // A message whose fields carry no class: nothing of it leaves.
  google::protobuf::Duration d;
  d.set_seconds(42);
  d.set_nanos(7);
  ASSERT_OK(guard->Apply({.id = "x"}, &d));
  EXPECT_EQ(d.ByteSizeLong(), 0u);
  // A birth date without the event's time cannot become an age band: gone.
  patient::v1::RegisterPatientRequest r = Person();
  ASSERT_OK(guard->Apply({.id = "x"}, &r));
  EXPECT_TRUE(r.demographics().birth_date().empty());
  // A birth date that is not a real date cannot become a band either.
  r = Person();
  r.mutable_demographics()->set_birth_date("1980-02-30");
  ASSERT_OK(guard->Apply({.id = "x", .as_of = kEventTime}, &r));
  EXPECT_TRUE(r.demographics().birth_date().empty());
  // A payload of a type nobody knows is dropped.
  events::v1::EventEnvelope env;
  env.mutable_payload()->set_type_url("type.googleapis.com/unknown.Secret");
  env.mutable_payload()->set_value("张三 13800138000");
  ASSERT_OK(guard->Apply({.id = "x"}, &env));
  EXPECT_FALSE(env.has_payload());
}

TEST(Deid, FieldsUnknownToThisSchemaDoNotPassThrough) {
  // A newer writer added field 99 (a name) to the payload and field 98 to
  // the envelope: this binary's schema does not know them.
  const std::string name = "张三丰123";  // 12 bytes
  auto unknown = [&](const std::string& bytes) {
    return bytes + std::string("\x9a\x06\x0c", 3) + name;  // field 99, length-delimited
  };
  prescriptions::v1::PrescriptionChanged rx;
  rx.set_organisation_id("city-hosp-1");
  prescriptions::v1::PrescriptionChanged with_extra;
  ASSERT_TRUE(with_extra.ParseFromString(unknown(rx.SerializeAsString())));
  events::v1::EventEnvelope env;
  env.set_type("prescription.issued");
  env.mutable_payload()->PackFrom(with_extra);
  events::v1::EventEnvelope parsed;
  ASSERT_TRUE(parsed.ParseFromString(
      env.SerializeAsString() + std::string("\x92\x06\x0c", 3) + name));  // field 98
  ASSERT_THAT(parsed.SerializeAsString(), HasSubstr("张三丰"));
  ASSERT_OK(Guard("public_health.textproto")->Apply({.id = "x"}, &parsed));
  EXPECT_THAT(parsed.SerializeAsString(), Not(HasSubstr("张三丰")));
  prescriptions::v1::PrescriptionChanged got;
  ASSERT_TRUE(parsed.payload().UnpackTo(&got));
  EXPECT_EQ(got.organisation_id(), "city-hosp-1");
}

TEST(Deid, ScrubRemovesIdsPhonesAndTheOwnName) {
  EXPECT_EQ(Scrub("张三丰, ID 11010519491231002X, tel 138-0013-8000 or 0571-87654321; "
                  "三丰 says hi",
                  {"张三丰", "三丰", "张"}),
            "[NAME], ID [ID], tel [PHONE] or [PHONE]; [NAME] says hi");
  EXPECT_EQ(Scrub("glucose 7.8 mmol/L at 09:30", {}), "glucose 7.8 mmol/L at 09:30");
  EXPECT_EQ(Scrub("+86 13912345678.", {}), "[PHONE].");
  // An ID against another number goes whole (found by scrub_fuzz: the
  // region code and birth date of "ID then phone" were left behind).
  EXPECT_EQ(Scrub("11010519491231002113812345678 done", {}), "[ID] done");
  EXPECT_EQ(Scrub("card 6222020200112233445566", {}), "card [ID]");
  EXPECT_EQ(Scrub("1101051949123100 2X", {}), "[ID] 2X");  // 16 digits: a run
  // 14 digits are a compact timestamp, not an ID.
  EXPECT_EQ(Scrub("at 20240315093000", {}), "at 20240315093000");
}

TEST(Deid, ScrubMarksEveryNameInOnePass) {
  // The longest name wins where two start together; a mark is not searched
  // again, so names made of its own pieces cannot grow the text (found by
  // scrub_fuzz: name by name, "[N" and "E]" doubled the marks each time).
  EXPECT_EQ(Scrub("张三丰 and 三丰", {"三丰", "张三丰"}), "[NAME] and [NAME]");
  std::vector<std::string> pieces;
  for (int i = 0; i < 40; ++i) {
    pieces.push_back("[N");
    pieces.push_back("E]");
    pieces.push_back("张三");
  }
  EXPECT_EQ(Scrub("张三 E] [N", pieces), "[NAME] [NAME] [NAME]");
}

TEST(Deid, KeysComeFromASecretFile) {
  const std::string path = ::testing::TempDir() + "/deid-keys";
  std::ofstream(path) << "# rotated 2026-12\nk2 " << std::string(64, 'a') << "\nk1 "
                      << std::string(64, 'b') << "\n";
  ASSERT_OK_AND_ASSIGN(std::vector<Key> keys, LoadKeys(path));
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].id, "k2");
  EXPECT_EQ(keys[0].secret, std::string(32, '\xaa'));
  std::ofstream(path) << "k1 nothex\n";
  EXPECT_THAT(LoadKeys(path), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(":1:")));
}

TEST(Deid, PoliciesAndKeysAreValidated) {
  pv1::Policy empty;
  EXPECT_THAT(Deidentifier::Create(empty, {kKey}), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(pv1::Policy p,
                       LoadPolicy(std::string(MERIDIAN_POLICY_DIR) + "/research.textproto"));
  EXPECT_THAT(Deidentifier::Create(p, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Deidentifier::Create(p, {{"k1", "short"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("secret")));
  p.set_max_date_shift_days(0);
  EXPECT_THAT(Deidentifier::Create(p, {kKey}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_date_shift_days")));
  EXPECT_THAT(LoadPolicy("/nonexistent"), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace meridian::deid
