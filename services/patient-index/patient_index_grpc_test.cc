// The patient index over real gRPC with mTLS and PostgreSQL.
#include <atomic>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/kafka/testing.h"
#include "libs/pg/testing.h"
#include "libs/server/capacity_testing.h"
#include "libs/server/server.h"
#include "libs/server/testing.h"
#include "libs/status/status_matchers.h"
#include "services/patient-index/patient_index_service.h"
#include "services/patient-index/pg_patient_store.h"
#include "services/patient-index/test_util.h"

namespace meridian::patient {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class PatientIndexGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(pg::Migrate(schema_.pool(), schema_.name(), AllMigrations()));
    server::ServerOptions options =
        server::testing::TestServerOptions("patient-index-test");
    options.max_message_bytes = kMaxMessageBytes;
    server_ = std::make_unique<server::Server>(options, &directory_);
    server_->AddService(&service_);
    ASSERT_OK(server_->Start());
  }

  std::unique_ptr<v1::PatientIndex::Stub> StubAs(const std::string& org) {
    auto ch = server::MakeChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                  server::testing::TlsFor(org));
    EXPECT_OK(ch);
    return v1::PatientIndex::NewStub(*ch);
  }

  grpc::Status Register(const std::string& org, const v1::RegisterPatientRequest& r,
                        v1::RegisterPatientResponse* out) {
    auto ctx = server::NewContext(absl::Seconds(10));
    return StubAs(org)->RegisterPatient(ctx.get(), r, out);
  }

  pg::testing::ScratchSchema schema_{"pigrpc"};
  orgs::Directory directory_ = server::testing::LoadDirectory();
  Model model_;
  PgPatientStore store_{&schema_.pool()};
  PatientIndex index_{&store_, &model_};
  PatientIndexService service_{&index_, &directory_};
  std::unique_ptr<server::Server> server_;
};

TEST_F(PatientIndexGrpcTest, InstitutionsRegisterAndReadCrossReferences) {
  auto a = testing::Person("MRN-001", "黄", "婷", "1992-12-12", "13122223333");
  v1::RegisterPatientResponse ra, rb;
  ASSERT_TRUE(Register("city-hosp-1", a, &ra).ok());
  auto b = testing::Person("P-77", "黄", "婷", "1992-12-12", "13122223333");
  ASSERT_TRUE(Register("thc-hillview", b, &rb).ok());
  EXPECT_EQ(rb.regional_id(), ra.regional_id());

  v1::GetCrossReferencesRequest q;
  q.set_local_id("MRN-001");
  v1::GetCrossReferencesResponse x;
  auto ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(StubAs("city-hosp-1")->GetCrossReferences(ctx.get(), q, &x).ok());
  ASSERT_EQ(x.references_size(), 1);
  EXPECT_EQ(x.references(0).organisation_id(), "thc-hillview");
  EXPECT_EQ(x.references(0).local_id(), "P-77");
}

TEST_F(PatientIndexGrpcTest, SimultaneousFirstRegistrationsShareOneIdentity) {
  // Eight institutions register the same new person at the same moment, on
  // connections opened beforehand so that the calls really overlap.
  const std::vector<std::string> orgs = {
      "city-hosp-1",   "city-tcm-hosp", "county-hosp-east", "county-hosp-west",
      "thc-riverside", "thc-hillview",  "pharm-central",    "lab-regional"};
  std::vector<std::unique_ptr<v1::PatientIndex::Stub>> stubs;
  for (const std::string& org : orgs) {
    stubs.push_back(StubAs(org));
    v1::GetCrossReferencesRequest warm;
    warm.set_local_id("warm-up");
    v1::GetCrossReferencesResponse ignored;
    auto ctx = server::NewContext(absl::Seconds(10));
    stubs.back()->GetCrossReferences(ctx.get(), warm, &ignored);  // NOT_FOUND
  }
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> ids(orgs.size());
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (size_t i = 0; i < orgs.size(); ++i) {
      threads.emplace_back([&, i] {
        auto person = testing::Person(absl::StrCat("R", round, "-", i), "邓",
                                      absl::StrCat("同", round),
                                      absl::StrCat("1977-07-0", round + 1),
                                      absl::StrCat("1890000000", round));
        v1::RegisterPatientResponse r;
        auto ctx = server::NewContext(absl::Seconds(10));
        ++ready;
        while (ready < static_cast<int>(orgs.size())) {
        }
        if (stubs[i]->RegisterPatient(ctx.get(), person, &r).ok()) {
          ids[i] = r.regional_id();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const std::string& id : ids) {
      EXPECT_FALSE(id.empty());
      EXPECT_EQ(id, ids[0]) << "round " << round;
    }
  }
}

TEST_F(PatientIndexGrpcTest, BulkStreamReportsPerRecord) {
  auto ctx = server::NewContext(absl::Seconds(10));
  v1::RegisterPatientsResponse out;
  auto stub = StubAs("county-hosp-east");
  auto writer = stub->RegisterPatients(ctx.get(), &out);
  ASSERT_TRUE(writer->Write(testing::Person("E1", "吴", "静", "1970-01-01")));
  ASSERT_TRUE(writer->Write(testing::Person("", "吴", "静", "1970-01-01")));  // bad
  ASSERT_TRUE(writer->Write(testing::Person("E2", "郑", "磊", "1971-02-02")));
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(out.succeeded(), 2);
  EXPECT_EQ(out.failed(), 1);
  ASSERT_EQ(out.results_size(), 3);
  EXPECT_EQ(out.results(1).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(out.results(1).error(), HasSubstr("local_id"));
  EXPECT_EQ(out.results(2).response().decision(), v1::NEW_IDENTITY);
}

// A stream is registered a chunk at a time in groups: results keep the
// stream's order across chunks, and two versions of one source record in
// one chunk are applied in the order sent.
TEST_F(PatientIndexGrpcTest, BulkStreamKeepsOrderAcrossChunksAndVersions) {
  auto ctx = server::NewContext(absl::Seconds(60));
  v1::RegisterPatientsResponse out;
  auto writer = StubAs("county-hosp-east")->RegisterPatients(ctx.get(), &out);
  constexpr int kRecords = 300;  // more than one chunk
  for (int i = 0; i < kRecords; ++i) {
    std::string phone = absl::StrCat("1370000", 1000 + i);
    if (i == 11) phone = "13712345678";  // a second version of record 10
    const int person = i == 11 ? 10 : i;
    const std::string dob = absl::StrFormat("%d-%02d-%02d", 1930 + person % 70,
                                            1 + person % 12, 1 + person % 28);
    ASSERT_TRUE(writer->Write(
        testing::Person(absl::StrCat("ORD", person), "沈", "序", dob, phone)));
  }
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(out.succeeded(), kRecords);
  ASSERT_EQ(out.results_size(), kRecords);
  for (int i = 0; i < kRecords; ++i) {
    EXPECT_EQ(out.results(i).index(), i);
    EXPECT_EQ(out.results(i).code(), 0) << out.results(i).error();
  }
  EXPECT_EQ(out.results(11).response().regional_id(), out.results(10).response().regional_id());
  ASSERT_OK_AND_ASSIGN(auto stored, store_.FindSource("county-hosp-east", "ORD10"));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->request.demographics().phone(), "13712345678");  // the later one
}

// One institution registers at ten times its capacity (its rate limit): what
// is accepted is stored, once; what is refused is RESOURCE_EXHAUSTED with a
// time to retry and stores nothing; memory stays bounded; another
// institution is served alongside.
TEST_F(PatientIndexGrpcTest, TenTimesCapacityStoresWhatItAcceptsAndNothingElse) {
  auto limited = server::testing::LimitedServer(&service_, &directory_, 20);
  auto flooder = server::testing::StubOn<v1::PatientIndex>(*limited, "city-hosp-1");
  auto calm = server::testing::StubOn<v1::PatientIndex>(*limited, "thc-riverside");
  auto local_of = [](int n) { return absl::StrCat("FLOOD-", n); };
  std::mutex mu;
  std::vector<std::string> accepted;
  const server::testing::CapacityRun run = server::testing::FloodAlongside(
      [&](int n, grpc::ClientContext& ctx) {
        auto person = testing::Person(
            local_of(n), "洪", "流",
            absl::StrFormat("%d-%02d-%02d", 1930 + n % 70, 1 + n % 12, 1 + n % 28),
            absl::StrCat("1360", 1000000 + n));
        v1::RegisterPatientResponse out;
        grpc::Status s = flooder->RegisterPatient(&ctx, person, &out);
        if (s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          accepted.push_back(local_of(n));
        }
        return s;
      },
      [&](int i) {
        v1::RegisterPatientResponse out;
        auto ctx = server::NewContext(absl::Seconds(10));
        return calm->RegisterPatient(
            ctx.get(),
            testing::Person(absl::StrCat("CALM-", i), "柳", "静",
                            absl::StrCat("1988-0", 1 + i % 9, "-15")),
            &out);
      });
  EXPECT_TRUE(server::testing::HeldAtCapacity(run, 20));
  // Every accepted registration is stored, and nothing else.
  ASSERT_EQ(static_cast<int>(accepted.size()), run.flood.accepted);
  auto stored = schema_.pool().Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FROM source_record WHERE organisation_id ="
                    " 'city-hosp-1' AND local_id LIKE 'FLOOD-%'")[0].as<int64_t>();
  });
  ASSERT_OK(stored);
  EXPECT_EQ(*stored, run.flood.accepted);
  for (const std::string& local : accepted) {
    ASSERT_OK_AND_ASSIGN(auto r, store_.FindSource("city-hosp-1", local));
    EXPECT_TRUE(r.has_value()) << local;
  }
  limited->Shutdown();
}
TEST_F(PatientIndexGrpcTest, AStreamPastItsCapStoresNothingMoreAndStaysSmall) {
  PatientIndexService capped(&index_, &directory_, /*max_bulk_records=*/2);
  server::Server srv(server::testing::TestServerOptions("pi-cap"), &directory_);
  srv.AddService(&capped);
  ASSERT_OK(srv.Start());
  auto ch = server::MakeChannel(absl::StrCat("127.0.0.1:", srv.port()),
                                server::testing::TlsFor("county-hosp-east"));
  ASSERT_OK(ch);
  auto ctx = server::NewContext(absl::Seconds(10));
  v1::RegisterPatientsResponse out;
  auto writer = v1::PatientIndex::NewStub(*ch)->RegisterPatients(ctx.get(), &out);
  ASSERT_TRUE(writer->Write(testing::Person("CAP1", "褚", "一", "1960-01-01")));
  ASSERT_TRUE(writer->Write(testing::Person("CAP2", "卫", "二", "1961-02-02")));
  for (int i = 3; i <= 6; ++i) {
    ASSERT_TRUE(writer->Write(testing::Person(absl::StrCat("CAP", i), "蒋", "三", "1962-03-03")));
  }
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(out.succeeded(), 2);
  EXPECT_EQ(out.failed(), 4);
  ASSERT_EQ(out.results_size(), 3);
  EXPECT_EQ(out.results(2).index(), 2);
  EXPECT_EQ(out.results(2).code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  v1::GetCrossReferencesRequest q;
  q.set_local_id("CAP3");
  v1::GetCrossReferencesResponse x;
  auto qctx = server::NewContext(absl::Seconds(10));
  EXPECT_EQ(StubAs("county-hosp-east")->GetCrossReferences(qctx.get(), q, &x).error_code(),
            grpc::StatusCode::NOT_FOUND);
  srv.Shutdown();
}

TEST_F(PatientIndexGrpcTest, BadInputAndRolesAreRefusedCleanly) {
  v1::RegisterPatientResponse out;
  auto bad = testing::Person("X1", "马", std::string(10 << 20, 'y'), "1980-01-01");
  grpc::Status s = Register("city-hosp-1", bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("demographics.given_name"));
  EXPECT_THAT(s.error_message(), Not(HasSubstr("yyyy")));

  // The health authority sees aggregates only: no identities.
  s = Register("health-commission", testing::Person("H1", "马", "云", "1980-01-01"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::GetPatientRequest g;
  g.set_regional_id("123e4567-e89b-42d3-a456-426614174000");
  v1::GetPatientResponse p;
  auto ctx = server::NewContext(absl::Seconds(10));
  EXPECT_EQ(StubAs("health-commission")->GetPatient(ctx.get(), g, &p).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(PatientIndexGrpcTest, OperatorResolvesReviewTasks) {
  v1::RegisterPatientResponse a, b;
  ASSERT_TRUE(Register("city-hosp-1",
                       testing::Person("K1", "罗", "佳", "2016-03-03", "13900000009"), &a).ok());
  ASSERT_TRUE(Register("city-hosp-1",
                       testing::Person("K2", "罗", "毅", "2016-03-03", "13900000009"), &b).ok());
  ASSERT_EQ(b.decision(), v1::NEW_IDENTITY_WITH_REVIEW);

  v1::ListReviewTasksResponse tasks;
  auto ctx = server::NewContext(absl::Seconds(10));
  EXPECT_EQ(StubAs("city-hosp-1")->ListReviewTasks(ctx.get(), {}, &tasks).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(StubAs("meridian-ops")->ListReviewTasks(ctx.get(), {}, &tasks).ok());
  ASSERT_EQ(tasks.tasks_size(), 1);
  v1::ResolveReviewTaskRequest r;
  r.set_review_task_id(tasks.tasks(0).id());
  r.set_resolution(v1::KEEP_APART);
  r.set_reason("twins");
  v1::ResolveReviewTaskResponse out;
  ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(StubAs("meridian-ops")->ResolveReviewTask(ctx.get(), r, &out).ok());
  EXPECT_EQ(out.regional_id(), b.regional_id());
}

TEST_F(PatientIndexGrpcTest, OperatorMergesAndUnmergesOverPostgres) {
  v1::RegisterPatientResponse a, b;
  ASSERT_TRUE(Register("city-hosp-1",
                       testing::Person("M1", "钱", "伟", "1950-05-05", "13600000005"), &a).ok());
  ASSERT_TRUE(Register("county-hosp-west",
                       testing::Person("M2", "钱", "玮", "1957-01-25", ""), &b).ok());
  ASSERT_NE(a.regional_id(), b.regional_id());
  v1::MergePatientsRequest m;
  m.set_from_regional_id(b.regional_id());
  m.set_into_regional_id(a.regional_id());
  m.set_reason("same person");
  v1::MergePatientsResponse merged;
  auto ctx = server::NewContext(absl::Seconds(10));
  EXPECT_EQ(StubAs("city-hosp-1")->MergePatients(ctx.get(), m, &merged).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(StubAs("meridian-ops")->MergePatients(ctx.get(), m, &merged).ok());
  EXPECT_EQ(merged.records_moved(), 1);
  v1::GetPatientRequest g;
  g.set_regional_id(b.regional_id());
  v1::GetPatientResponse p;
  ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(StubAs("city-hosp-1")->GetPatient(ctx.get(), g, &p).ok());
  EXPECT_EQ(p.regional_id(), a.regional_id());
  EXPECT_EQ(p.sources_size(), 2);
  v1::UnmergePatientsRequest u;
  u.set_merge_id(merged.merge_id());
  u.set_reason("not the same person");
  v1::UnmergePatientsResponse un;
  ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(StubAs("meridian-ops")->UnmergePatients(ctx.get(), u, &un).ok());
  EXPECT_EQ(un.regional_id(), b.regional_id());
  EXPECT_EQ(un.records_moved(), 1);
}

TEST_F(PatientIndexGrpcTest, OperatorUnlinksAWrongLinkOverPostgres) {
  v1::RegisterPatientResponse a, b;
  ASSERT_TRUE(Register("city-hosp-1",
                       testing::Person("U1", "冯", "静", "1991-11-11", "13400000004"), &a).ok());
  ASSERT_TRUE(Register("thc-hillview",
                       testing::Person("U2", "冯", "静", "1991-11-11", "13400000004"), &b).ok());
  ASSERT_EQ(a.regional_id(), b.regional_id());
  v1::UnlinkRecordRequest u;
  u.mutable_record()->set_organisation_id("thc-hillview");
  u.mutable_record()->set_local_id("U2");
  u.set_reason("namesakes");
  v1::UnlinkRecordResponse out;
  auto ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(StubAs("meridian-ops")->UnlinkRecord(ctx.get(), u, &out).ok());
  EXPECT_NE(out.regional_id(), a.regional_id());
  v1::RegisterPatientResponse again;
  ASSERT_TRUE(Register("thc-hillview",
                       testing::Person("U2", "冯", "静", "1991-11-11", "13400000005"), &again).ok());
  EXPECT_EQ(again.regional_id(), out.regional_id());
}

TEST_F(PatientIndexGrpcTest, DatabaseDownMidStreamFailsCleanlyAndRecovers) {
  v1::RegisterPatientResponse out;
  ASSERT_TRUE(Register("city-hosp-1",
                       testing::Person("D1", "孔", "亮", "1981-01-01", "13500000011"), &out).ok());
  ASSERT_EQ(kafka::testing::Ctl("stop postgres"), 0);
  grpc::Status down = Register(
      "city-hosp-1", testing::Person("D2", "孔", "明", "1982-02-02", "13500000012"), &out);
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE) << down.error_message();
  ASSERT_EQ(kafka::testing::Ctl("start postgres"), 0);
  // Nothing half-written: the retried registration succeeds as a new one,
  // and the first patient is intact.
  grpc::Status up = Register(
      "city-hosp-1", testing::Person("D2", "孔", "明", "1982-02-02", "13500000012"), &out);
  ASSERT_TRUE(up.ok()) << up.error_message();
  EXPECT_FALSE(out.unchanged());
  v1::GetCrossReferencesRequest q;
  q.set_local_id("D1");
  v1::GetCrossReferencesResponse x;
  auto ctx = server::NewContext(absl::Seconds(10));
  EXPECT_TRUE(StubAs("city-hosp-1")->GetCrossReferences(ctx.get(), q, &x).ok());
}

}  // namespace
}  // namespace meridian::patient
