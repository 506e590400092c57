// End to end across the running platform (tools/meridian up): institutions
// register a synthetic person with the real patient-index service, push
// records to the real records service, and read the longitudinal record as
// the patient's consent (the real consent service, through the patient
// portal) allows; the identity links reach records and consent through the
// patient index's events on Kafka, including a merge and its unmerge; every
// read lands in the consent service's audit log.
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/server/client.h"
#include "libs/server/testing.h"
#include "meridian/consent/v1/consent.grpc.pb.h"
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
namespace cv1 = ::meridian::consent::v1;

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
  std::unique_ptr<cv1::Consent::Stub> Portal() {
    auto ch = server::MakeChannel(Address("consent"), server::testing::TlsFor("patient-portal"));
    EXPECT_TRUE(ch.ok());
    return cv1::Consent::NewStub(*ch);
  }

  // The patient portal records a directive for `regional` (RECORDS only).
  std::string Directive(const std::string& regional, cv1::Effect effect,
                        const std::string& only_for = "") {
    cv1::GrantRequest g;
    g.mutable_directive()->set_regional_id(regional);
    g.mutable_directive()->set_effect(effect);
    g.mutable_directive()->add_categories(cv1::RECORDS);
    if (only_for.empty()) {
      g.mutable_directive()->mutable_recipients()->set_everyone(true);
    } else {
      g.mutable_directive()->mutable_recipients()->mutable_organisations()->add_ids(only_for);
    }
    cv1::Directive out;
    grpc::Status s;
    // The consent service learns of the patient through Kafka too.
    for (int i = 0; i < 300; ++i) {
      auto ctx = server::NewContext(absl::Seconds(10));
      s = Portal()->Grant(ctx.get(), g, &out);
      if (s.error_code() != grpc::StatusCode::NOT_FOUND) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.directive_id();
  }

  std::unique_ptr<rv1::Records::Stub> Records(const std::string& org) {
    auto ch = server::MakeChannel(Address("records"), server::testing::TlsFor(org));
    EXPECT_TRUE(ch.ok());
    return rv1::Records::NewStub(*ch);
  }

  // Registers a person (deterministic match on the resident ID) at `org`.
  std::string Register(const std::string& org, const std::string& local_id,
                       const std::string& given, const std::string& birth) {
    pv1::RegisterPatientRequest r = patient::testing::Person(local_id, family_, given, birth);
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

  std::mt19937 rng_{std::random_device{}()};
  // Even: the resident ID's sex digit says female, as Person does.
  const int seq_ = 2 * static_cast<int>(rng_() % 450);
  const std::string run_ = absl::StrCat(rng_());
  // A person of this run only: a local database keeps earlier runs' people,
  // and the index would rightly link a namesake born a digit apart.
  static constexpr const char* kMainFamily[] = {"欧阳", "夏侯", "长孙", "闻人", "赫连",
                                                "西门", "南宫", "百里", "呼延", "端木"};
  static constexpr const char* kMainGiven[] = {"晓梅", "春燕", "秋菊", "雪莲", "海燕",
                                               "玉兰", "桂芳", "丽娟", "红霞", "翠萍"};
  const std::string family_ = kMainFamily[rng_() % 10];
  const std::string given_ = kMainGiven[rng_() % 10];
  const std::string birth_ = absl::StrCat(1940 + rng_() % 60, "-0", 1 + rng_() % 9, "-",
                                          10 + rng_() % 19);
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
