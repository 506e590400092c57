// The lab-results service over real gRPC with mTLS and PostgreSQL: roles,
// bulk push with its cap, ugly input.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/consent/testing.h"
#include "libs/ids/uuid.h"
#include "libs/pg/testing.h"
#include "libs/server/capacity_testing.h"
#include "libs/server/server.h"
#include "libs/server/testing.h"
#include "libs/status/status_matchers.h"
#include "libs/timestamps/timestamps.h"
#include "services/lab-results/labs_service.h"
#include "services/lab-results/pg_lab_store.h"

namespace meridian::labs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::LabReport Potassium(const std::string& local_id, double value) {
  v1::LabReport r;
  r.set_local_id(local_id);
  r.set_patient_organisation_id("city-hosp-1");
  r.set_patient_local_id("P-1");
  r.set_patient_birth_date("1975-01-01");
  v1::LabResult* k = r.add_results();
  k->set_loinc_code("2823-3");
  k->set_numeric(value);
  k->set_unit("mmol/L");
  k->set_status(v1::FINAL);
  *k->mutable_collected_at() = timestamps::ToProto(absl::Now() - absl::Hours(2));
  *k->mutable_reported_at() = timestamps::ToProto(absl::Now() - absl::Hours(1));
  return r;
}

class LabsGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(pg::Migrate(schema_.pool(), schema_.name(), AllMigrations()));
    server::ServerOptions options = server::testing::TestServerOptions("labs-test");
    options.max_message_bytes = kMaxMessageBytes;
    server_ = std::make_unique<server::Server>(options, &directory_);
    server_->AddService(&service_);
    ASSERT_OK(server_->Start());
  }

  std::unique_ptr<v1::LabResults::Stub> StubAs(const std::string& org) {
    auto ch = server::MakeChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                  server::testing::TlsFor(org));
    EXPECT_OK(ch);
    return v1::LabResults::NewStub(*ch);
  }

  grpc::Status Push(const std::string& org, const v1::LabReport& r, v1::PushResult* out) {
    auto ctx = server::NewContext(absl::Seconds(10));
    return StubAs(org)->PushReport(ctx.get(), r, out);
  }

  int64_t Count(const std::string& sql) {
    absl::StatusOr<int64_t> n = schema_.pool().Read(
        [&](pqxx::nontransaction& tx) { return tx.exec1(sql)[0].as<int64_t>(); });
    EXPECT_OK(n);
    return n.ok() ? *n : -1;
  }

  static ReferenceTable* Table() {
    static ReferenceTable* t = new ReferenceTable(*ReferenceTable::LoadDir(MERIDIAN_REFERENCE_DIR));
    return t;
  }

  pg::testing::ScratchSchema schema_{"labgrpc", 4};
  orgs::Directory directory_ = server::testing::LoadDirectory();
  PgLabStore store_{&schema_.pool()};
  xref::PgXrefStore xrefs_{&schema_.pool()};
  consent::testing::FakeChecker consent_;
  Labs logic_{&store_, &xrefs_, &consent_, &directory_, Table()};
  LabsService service_{&logic_, &directory_, /*max_bulk_items=*/3};
  std::unique_ptr<server::Server> server_;
};

// A laboratory pushes reports at ten times its capacity (its rate limit):
// what is accepted is stored, once; what is refused stores nothing and says
// when to retry; memory stays bounded; a hospital is served alongside.
TEST_F(LabsGrpcTest, TenTimesCapacityStoresWhatItAcceptsAndNothingElse) {
  auto limited = server::testing::LimitedServer(&service_, &directory_, 20);
  auto flooder = server::testing::StubOn<v1::LabResults>(*limited, "lab-regional");
  auto calm = server::testing::StubOn<v1::LabResults>(*limited, "city-hosp-1");
  const server::testing::CapacityRun run = server::testing::FloodAlongside(
      [&](int n, grpc::ClientContext& ctx) {
        v1::PushResult out;
        return flooder->PushReport(&ctx, Potassium(absl::StrCat("FLOOD-", n), 4.1), &out);
      },
      [&](int i) {
        v1::PushResult out;
        auto ctx = server::NewContext(absl::Seconds(10));
        return calm->PushReport(ctx.get(), Potassium(absl::StrCat("CALM-", i), 3.9), &out);
      });
  EXPECT_TRUE(server::testing::HeldAtCapacity(run, 20));
  EXPECT_EQ(Count("SELECT count(*) FROM lab_report WHERE organisation_id = 'lab-regional'"),
            run.flood.accepted);
  limited->Shutdown();
}
TEST_F(LabsGrpcTest, LaboratoriesAndHospitalsPushOthersDoNot) {
  v1::PushResult out;
  EXPECT_TRUE(Push("lab-regional", Potassium("L-1", 4.2), &out).ok());
  EXPECT_EQ(out.outcome(), v1::CREATED);
  EXPECT_TRUE(Push("city-hosp-1", Potassium("H-1", 4.2), &out).ok());
  for (const char* org : {"pharm-central", "health-commission", "patient-portal", "meridian-ops"}) {
    EXPECT_EQ(Push(org, Potassium("X-1", 4.2), &out).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << org;
  }
  // A laboratory pushes but does not read patients' results.
  v1::GetPatientResultsRequest read;
  read.set_regional_id(ids::NewUuid());
  v1::GetPatientResultsResponse results;
  auto ctx = server::NewContext(absl::Seconds(10));
  EXPECT_EQ(StubAs("lab-regional")->GetPatientResults(ctx.get(), read, &results).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Count("SELECT count(*) FROM lab_report"), 2);
  // A critical value's event is in the outbox with the report's.
  EXPECT_TRUE(Push("lab-regional", Potassium("L-2", 7.4), &out).ok());
  EXPECT_EQ(out.critical(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox"), 4);
}

TEST_F(LabsGrpcTest, BulkPushAnswersEveryReportAndStopsAtTheCap) {
  v1::PushReportsResponse response;
  auto ctx = server::NewContext(absl::Seconds(30));
  auto writer = StubAs("lab-regional")->PushReports(ctx.get(), &response);
  v1::LabReportBatch batch;
  *batch.add_reports() = Potassium("B-1", 4.0);
  v1::LabReport bad = Potassium("B-2", 4.0);
  bad.mutable_results(0)->set_unit("mg/dL");  // potassium has no mass unit here
  *batch.add_reports() = bad;
  ASSERT_TRUE(writer->Write(batch));
  batch.Clear();
  for (int i = 3; i <= 5; ++i) *batch.add_reports() = Potassium(absl::StrCat("B-", i), 4.0);
  ASSERT_TRUE(writer->Write(batch));
  ASSERT_TRUE(writer->WritesDone());
  ASSERT_TRUE(writer->Finish().ok());
  ASSERT_EQ(response.results_size(), 4);
  EXPECT_EQ(response.results(0).result().outcome(), v1::CREATED);
  EXPECT_EQ(response.results(1).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(response.results(1).error(), HasSubstr("results[0].unit"));
  EXPECT_EQ(response.results(3).index(), 3);
  EXPECT_EQ(response.results(3).code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(response.succeeded(), 2);
  EXPECT_EQ(response.failed(), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM lab_report"), 2);
}

TEST_F(LabsGrpcTest, UglyInputIsRefusedWithoutEchoingIt) {
  v1::LabReport huge = Potassium("U-1", 4.0);
  huge.mutable_results(0)->set_note(std::string(8 << 20, 'x'));
  v1::PushResult out;
  grpc::Status s = Push("lab-regional", huge, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("results[0].note"));
  v1::LabReport secret = Potassium("U-2", 4.0);
  secret.set_patient_local_id("张三 110101199003074514");
  s = Push("lab-regional", secret, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), AllOf(HasSubstr("patient_local_id"), Not(HasSubstr("张三")),
                                       Not(HasSubstr("110101"))));
  v1::GetSeriesRequest series;
  series.set_regional_id("'; DROP TABLE lab_report; --");
  series.set_loinc_code("2823-3");
  v1::GetSeriesResponse points;
  auto ctx = server::NewContext(absl::Seconds(10));
  s = StubAs("city-hosp-1")->GetSeries(ctx.get(), series, &points);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Count("SELECT count(*) FROM lab_report"), 0);
}

}  // namespace
}  // namespace meridian::labs
