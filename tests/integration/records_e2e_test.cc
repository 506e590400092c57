// End to end across the running platform (tools/meridian up): institutions
// register a synthetic person with the real patient-index service, push
// records to the real records service, and read the longitudinal record; the
// identity links reach records through the patient index's events on Kafka,
// including a merge and its unmerge by the operator.
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/server/client.h"
#include "libs/server/testing.h"
#include "meridian/patient/v1/patient_index.grpc.pb.h"
#include "meridian/records/v1/records.grpc.pb.h"
#include "services/patient-index/test_util.h"
#include "services/records/test_util.h"

namespace meridian {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
namespace pv1 = ::meridian::patient::v1;
namespace rv1 = ::meridian::records::v1;

// The service's gRPC port from deploy/services.tsv.
std::string Address(const std::string& service) {
  std::ifstream tsv(server::testing::Env("MERIDIAN_ROOT") + "/deploy/services.tsv");
  std::string line;
  while (std::getline(tsv, line)) {
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() >= 2 && f[0] == service) return absl::StrCat("127.0.0.1:", f[1]);
  }
  ADD_FAILURE() << service << " is not in deploy/services.tsv";
  return "";
}

class RecordsE2eTest : public ::testing::Test {
 protected:
  std::unique_ptr<pv1::PatientIndex::Stub> Index(const std::string& org) {
    auto ch = server::MakeChannel(Address("patient-index"), server::testing::TlsFor(org));
    EXPECT_TRUE(ch.ok());
    return pv1::PatientIndex::NewStub(*ch);
  }
  std::unique_ptr<rv1::Records::Stub> Records(const std::string& org) {
    auto ch = server::MakeChannel(Address("records"), server::testing::TlsFor(org));
    EXPECT_TRUE(ch.ok());
    return rv1::Records::NewStub(*ch);
  }

  // Registers a person (deterministic match on the resident ID) at `org`.
  std::string Register(const std::string& org, const std::string& local_id,
                       const std::string& given, const std::string& birth) {
    pv1::RegisterPatientRequest r = patient::testing::Person(local_id, "欧阳", given, birth);
    patient::testing::AddId(&r, pv1::RESIDENT_ID,
                            patient::testing::ResidentIdFor(
                                absl::StrCat(birth.substr(0, 4), birth.substr(5, 2),
                                             birth.substr(8, 2)),
                                seq_));
    pv1::RegisterPatientResponse out;
    auto ctx = server::NewContext(absl::Seconds(10));
    grpc::Status s = Index(org)->RegisterPatient(ctx.get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.regional_id();
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
                                     std::vector<std::string> want) {
    std::sort(want.begin(), want.end());
    std::vector<std::string> got;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    do {
      rv1::GetPatientRecordRequest req;
      req.set_regional_id(regional);
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

  std::mt19937 rng_{std::random_device{}()};
  // Even: the resident ID's sex digit says female, as Person does.
  const int seq_ = 2 * static_cast<int>(rng_() % 450);
  const std::string run_ = absl::StrCat(rng_());
  const std::string birth_ = absl::StrCat(1940 + rng_() % 60, "-0", 1 + rng_() % 9, "-",
                                          10 + rng_() % 19);
};

TEST_F(RecordsE2eTest, ARegionalRecordFollowsLinksMergesAndUnmerges) {
  const std::string t_patient = "T-" + run_, c_patient = "C-" + run_;
  const std::string regional = Register("thc-riverside", t_patient, "晓梅", birth_);
  ASSERT_FALSE(regional.empty());
  ASSERT_EQ(Register("county-hosp-east", c_patient, "晓梅", birth_), regional);

  // The township centre sees a patient and refers them up to the county.
  Push("thc-riverside", records::testing::Item(Visit("TE-" + run_, t_patient, 50)));
  rv1::Referral up = records::testing::Referral("TR-" + run_, t_patient, "county-hosp-east");
  *up.mutable_requested_at() = records::testing::At(absl::Now() - absl::Hours(49));
  Push("thc-riverside", records::testing::Item(up));
  Push("county-hosp-east", records::testing::Item(Visit("CE-" + run_, c_patient, 24)));

  // The county hospital reads its own encounter and the referral made to it;
  // the centre's own visit is withheld (no consent service yet).
  EXPECT_THAT(ReadUntil("county-hosp-east", regional, {"CE-" + run_, "TR-" + run_}),
              UnorderedElementsAre("CE-" + run_, "TR-" + run_));
  EXPECT_THAT(ReadUntil("thc-riverside", regional, {"TE-" + run_, "TR-" + run_}),
              UnorderedElementsAre("TE-" + run_, "TR-" + run_));

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
