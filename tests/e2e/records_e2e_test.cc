// End to end across the running platform (tools/meridian up): institutions
// register a synthetic person with the real patient-index service, push
// records to the real records service, and read the longitudinal record as
// the patient's consent (the real consent service, through the patient
// portal) allows; the identity links reach records and consent through the
// patient index's events on Kafka, including a merge and its unmerge; every
// read lands in the consent service's audit log.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meridian/records/v1/records.grpc.pb.h"
#include "services/records/test_util.h"
#include "tests/e2e/e2e.h"

namespace meridian {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
namespace cv1 = ::meridian::consent::v1;
namespace pv1 = ::meridian::patient::v1;
namespace rv1 = ::meridian::records::v1;

class RecordsE2eTest : public e2e::PlatformTest {
 protected:
  std::unique_ptr<rv1::Records::Stub> Records(const std::string& org) {
    return e2e::StubAs<rv1::Records>("records", org);
  }

  void Push(const std::string& org, const rv1::RecordItem& item) {
    rv1::RecordBatch batch;
    *batch.add_items() = item;
    rv1::PushRecordsResponse out;
    auto ctx = server::NewContext(absl::Seconds(10));
    auto writer = Records(org)->PushRecords(ctx.get(), &out);
    ASSERT_TRUE(writer->Write(batch));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    ASSERT_EQ(out.succeeded(), 1) << out.DebugString();
  }

  // Polls until `org`'s view of `regional` lists exactly `want` local
  // record IDs (the cross-reference follows Kafka), or 60 s pass.
  std::vector<std::string> ReadUntil(const std::string& org, const std::string& regional,
                                     std::vector<std::string> want,
                                     const std::string& break_glass_reason = "") {
    std::sort(want.begin(), want.end());
    std::vector<std::string> got;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    do {
      rv1::GetPatientRecordRequest req;
      req.set_regional_id(regional);
      if (!break_glass_reason.empty()) {
        req.set_purpose(cv1::EMERGENCY);
        req.set_break_glass_reason(break_glass_reason);
      }
      rv1::GetPatientRecordResponse out;
      auto ctx = server::NewContext(absl::Seconds(10));
      grpc::Status s = Records(org)->GetPatientRecord(ctx.get(), req, &out);
      got.clear();
      if (s.ok()) {
        for (const auto& e : out.entries()) {
          got.push_back(e.has_encounter() ? e.encounter().local_id()
                        : e.has_referral() ? e.referral().local_id()
                                           : e.document().local_id());
        }
      }
      std::sort(got.begin(), got.end());
      if (!s.ok()) got = {"<" + s.error_message() + ">"};  // never a match
      if (got == want) break;
      absl::SleepFor(absl::Milliseconds(200));
    } while (absl::Now() < deadline);
    return got;
  }

  rv1::Encounter Visit(const std::string& id, const std::string& patient, int hours_ago) {
    rv1::Encounter e = records::testing::Encounter(id, patient);
    *e.mutable_start_time() = records::testing::At(absl::Now() - absl::Hours(hours_ago));
    *e.mutable_end_time() =
        records::testing::At(absl::Now() - absl::Hours(hours_ago) + absl::Minutes(30));
    return e;
  }

};

TEST_F(RecordsE2eTest, ARegionalRecordFollowsLinksMergesAndUnmerges) {
  const std::string t_patient = "T-" + run_, c_patient = "C-" + run_;
  const std::string regional = Register("thc-riverside", t_patient, given_, birth_);
  ASSERT_FALSE(regional.empty());
  ASSERT_EQ(Register("county-hosp-east", c_patient, given_, birth_), regional);

  // The township centre sees a patient and refers them up to the county.
  Push("thc-riverside", records::testing::Item(Visit("TE-" + run_, t_patient, 50)));
  rv1::Referral up = records::testing::Referral("TR-" + run_, t_patient, "county-hosp-east");
  *up.mutable_requested_at() = records::testing::At(absl::Now() - absl::Hours(49));
  Push("thc-riverside", records::testing::Item(up));
  Push("county-hosp-east", records::testing::Item(Visit("CE-" + run_, c_patient, 24)));

  // The regional default shares records for treatment (opt-out).
  const std::string te = "TE-" + run_, tr = "TR-" + run_, ce = "CE-" + run_;
  EXPECT_THAT(ReadUntil("county-hosp-east", regional, {ce, tr, te}),
              UnorderedElementsAre(ce, tr, te));
  // The patient refuses sharing records with everyone: the county hospital
  // keeps its own encounter and the referral made to it.
  Directive(regional, cv1::DENY);
  EXPECT_THAT(ReadUntil("county-hosp-east", regional, {ce, tr}), UnorderedElementsAre(ce, tr));
  // ... but allows the county hospital by name: the more specific directive.
  const std::string allow = Directive(regional, cv1::PERMIT, "county-hosp-east");
  EXPECT_THAT(ReadUntil("county-hosp-east", regional, {ce, tr, te}),
              UnorderedElementsAre(ce, tr, te));
  // Revoked: the very next read is denied (no retry, no waiting).
  cv1::RevokeRequest revoke;
  revoke.set_directive_id(allow);
  cv1::Directive revoked;
  auto rctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(Portal()->Revoke(rctx.get(), revoke, &revoked).ok());
  {
    rv1::GetPatientRecordRequest req;
    req.set_regional_id(regional);
    rv1::GetPatientRecordResponse out;
    auto ctx = server::NewContext(absl::Seconds(10));
    ASSERT_TRUE(Records("county-hosp-east")->GetPatientRecord(ctx.get(), req, &out).ok());
    std::vector<std::string> ids;
    for (const auto& e : out.entries()) {
      ids.push_back(e.has_encounter() ? e.encounter().local_id() : e.referral().local_id());
    }
    EXPECT_THAT(ids, UnorderedElementsAre(ce, tr));
    ASSERT_GE(out.withheld_size(), 1);
  }
  // Break-the-glass: an emergency with a written reason sees everything.
  EXPECT_THAT(ReadUntil("county-hosp-east", regional, {ce, tr, te}, "unconscious on arrival"),
              UnorderedElementsAre(ce, tr, te));
  // Every one of those reads is in the audit log the portal shows.
  {
    bool found_emergency = false;
    int county_reads = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline && !(found_emergency && county_reads >= 5)) {
      cv1::ListAccessesRequest q;
      q.set_regional_id(regional);
      q.set_page_size(1000);
      cv1::ListAccessesResponse out;
      auto ctx = server::NewContext(absl::Seconds(10));
      ASSERT_TRUE(Portal()->ListAccesses(ctx.get(), q, &out).ok());
      county_reads = 0;
      for (const auto& a : out.accesses()) {
        if (a.accessor_organisation() == "county-hosp-east") ++county_reads;
        if (a.break_glass_reason() == "unconscious on arrival") found_emergency = true;
      }
      if (!(found_emergency && county_reads >= 5)) absl::SleepFor(absl::Milliseconds(200));
    }
    EXPECT_TRUE(found_emergency);
    EXPECT_GE(county_reads, 5);
  }
  EXPECT_THAT(ReadUntil("thc-riverside", regional, {te, tr}), UnorderedElementsAre(te, tr));

  // A city hospital holds the person under another identity (registered
  // with details too different to link): the operator merges the two, and
  // the city's record joins; the unmerge takes it out again.
  // (A name, birth date, phone and valid resident ID of its own: the index
  // must not link it to the person, nor to what earlier runs left behind.)
  const std::string dup_birth = absl::StrCat(1900 + rng_() % 40, "-12-2", seq_ % 8);
  static constexpr const char* kGiven[] = {"建华", "志强", "国庆", "永胜", "德明",
                                           "文博", "子轩", "浩然", "振宇", "鹏飞"};
  static constexpr const char* kFamily[] = {"司马", "诸葛", "上官", "东方", "皇甫",
                                            "尉迟", "公孙", "慕容", "令狐", "宇文"};
  pv1::RegisterPatientRequest dup = patient::testing::Person(
      "H-" + run_, kFamily[rng_() % 10], kGiven[rng_() % 10], dup_birth,
      absl::StrCat("139", 10000000 + rng_() % 89999999), pv1::SEX_MALE);
  patient::testing::AddId(&dup, pv1::RESIDENT_ID,
                          patient::testing::ResidentIdFor(
                              absl::StrCat(dup_birth.substr(0, 4), "122", dup_birth.substr(9, 1)),
                              seq_ + 1));
  pv1::RegisterPatientResponse dup_out;
  auto ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(Index("city-hosp-1")->RegisterPatient(ctx.get(), dup, &dup_out).ok());
  ASSERT_NE(dup_out.regional_id(), regional);
  Push("city-hosp-1", records::testing::Item(Visit("HE-" + run_, "H-" + run_, 10)));
  EXPECT_THAT(ReadUntil("city-hosp-1", dup_out.regional_id(), {"HE-" + run_}),
              ElementsAre("HE-" + run_));

  pv1::MergePatientsRequest merge;
  merge.set_from_regional_id(dup_out.regional_id());
  merge.set_into_regional_id(regional);
  merge.set_reason("same person: resident ID typo at registration");
  pv1::MergePatientsResponse merged;
  ctx = server::NewContext(absl::Seconds(10));
  grpc::Status s = Index("meridian-ops")->MergePatients(ctx.get(), merge, &merged);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(ReadUntil("city-hosp-1", regional, {"HE-" + run_}), ElementsAre("HE-" + run_));

  pv1::UnmergePatientsRequest unmerge;
  unmerge.set_merge_id(merged.merge_id());
  unmerge.set_reason("merged in error");
  pv1::UnmergePatientsResponse unmerged;
  ctx = server::NewContext(absl::Seconds(10));
  s = Index("meridian-ops")->UnmergePatients(ctx.get(), unmerge, &unmerged);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(ReadUntil("city-hosp-1", regional, {}), ::testing::IsEmpty());
  EXPECT_THAT(ReadUntil("city-hosp-1", dup_out.regional_id(), {"HE-" + run_}),
              ElementsAre("HE-" + run_));
}

}  // namespace
}  // namespace meridian
