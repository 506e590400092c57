// The prescriptions service over real gRPC with mTLS and PostgreSQL: roles,
// circulation between pharmacies, concurrent dispensing, bulk push, ugly
// input.
#include <atomic>
#include <thread>

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
#include "services/prescriptions/pg_prescription_store.h"
#include "services/prescriptions/prescriptions_service.h"

namespace meridian::prescriptions {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::IssuePrescriptionRequest Simvastatin(const std::string& local_id,
                                         const std::string& patient, int64_t quantity) {
  v1::IssuePrescriptionRequest r;
  v1::Prescription* p = r.mutable_prescription();
  p->set_local_id(local_id);
  p->set_patient_local_id(patient);
  p->set_prescriber("DR-1");
  p->add_diagnosis_icd10("E78.0");
  *p->mutable_issued_at() = timestamps::ToProto(absl::Now() - absl::Minutes(5));
  v1::PrescriptionItem* item = p->add_items();
  item->set_drug_code("C10AA01-T20");
  item->set_dose(1);
  item->set_dose_unit("tablet");
  item->set_frequency(v1::QN);
  item->set_route(v1::ORAL);
  item->set_days(30);
  item->set_quantity(quantity);
  return r;
}

class PrescriptionsGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(pg::Migrate(schema_.pool(), schema_.name(), AllMigrations()));
    server::ServerOptions options = server::testing::TestServerOptions("prescriptions-test");
    options.max_message_bytes = kMaxMessageBytes;
    server_ = std::make_unique<server::Server>(options, &directory_);
    server_->AddService(&service_);
    ASSERT_OK(server_->Start());
    consent_.Permit(consent::v1::PRESCRIPTIONS);
  }

  std::unique_ptr<v1::Prescriptions::Stub> StubAs(const std::string& org) {
    auto ch = server::MakeChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                  server::testing::TlsFor(org));
    EXPECT_OK(ch);
    return v1::Prescriptions::NewStub(*ch);
  }

  v1::IssuePrescriptionResponse Issue(const std::string& org,
                                      const v1::IssuePrescriptionRequest& r) {
    v1::IssuePrescriptionResponse out;
    auto ctx = server::NewContext(absl::Seconds(10));
    grpc::Status s = StubAs(org)->IssuePrescription(ctx.get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  static v1::DispensePrescriptionRequest Dispensing(const v1::IssuePrescriptionResponse& rx,
                                                    const std::string& local_id,
                                                    int64_t quantity) {
    v1::DispensePrescriptionRequest d;
    d.set_prescription_id(rx.prescription_id());
    d.set_verification_code(rx.verification_code());
    d.set_local_id(local_id);
    d.set_pharmacist("PH-1");
    v1::DispensedItem* item = d.add_items();
    item->set_item_index(0);
    item->set_quantity(quantity);
    item->set_batch_number("B-1");
    return d;
  }

  int64_t Count(const std::string& sql) {
    absl::StatusOr<int64_t> n = schema_.pool().Read(
        [&](pqxx::nontransaction& tx) { return tx.exec1(sql)[0].as<int64_t>(); });
    EXPECT_OK(n);
    return n.ok() ? *n : -1;
  }

  static Formulary* LoadFormulary() {
    static Formulary* f = new Formulary(*Formulary::LoadDir(MERIDIAN_FORMULARY_DIR));
    return f;
  }

  // Fewer connections than the concurrency test's 16 clients: a call must
  // never hold one connection while it waits for another.
  pg::testing::ScratchSchema schema_{"rxgrpc", 4};
  orgs::Directory directory_ = server::testing::LoadDirectory();
  PgPrescriptionStore store_{&schema_.pool()};
  xref::PgXrefStore xrefs_{&schema_.pool()};
  consent::testing::FakeChecker consent_;
  Prescriptions logic_{&store_, &xrefs_, &consent_, &directory_, LoadFormulary()};
  PrescriptionsService service_{&logic_, &directory_, /*max_bulk_items=*/5};
  std::unique_ptr<server::Server> server_;
};

// A hospital issues prescriptions at ten times its capacity (its rate
// limit): what is accepted is stored, once; what is refused stores nothing
// and says when to retry; memory stays bounded; another hospital is served
// alongside.
TEST_F(PrescriptionsGrpcTest, TenTimesCapacityStoresWhatItAcceptsAndNothingElse) {
  auto limited = server::testing::LimitedServer(&service_, &directory_, 20);
  auto flooder = server::testing::StubOn<v1::Prescriptions>(*limited, "city-hosp-1");
  auto calm = server::testing::StubOn<v1::Prescriptions>(*limited, "county-hosp-east");
  // One response per call: the flood runs on several threads.
  const server::testing::CapacityRun run = server::testing::FloodAlongside(
      [&](int n, grpc::ClientContext& ctx) {
        v1::IssuePrescriptionResponse out;
        return flooder->IssuePrescription(
            &ctx, Simvastatin(absl::StrCat("FLOOD-", n), absl::StrCat("P-", n % 50), 30),
            &out);
      },
      [&](int i) {
        v1::IssuePrescriptionResponse out;
        auto ctx = server::NewContext(absl::Seconds(10));
        return calm->IssuePrescription(
            ctx.get(), Simvastatin(absl::StrCat("CALM-", i), "P-c", 30), &out);
      });
  EXPECT_TRUE(server::testing::HeldAtCapacity(run, 20));
  EXPECT_EQ(Count("SELECT count(*) FROM prescription WHERE organisation_id = 'city-hosp-1'"),
            run.flood.accepted);
  limited->Shutdown();
}
TEST_F(PrescriptionsGrpcTest, EachRoleDoesOnlyItsPart) {
  v1::IssuePrescriptionResponse out;
  auto ctx = server::NewContext(absl::Seconds(10));
  grpc::Status s = StubAs("pharm-central")->IssuePrescription(
      ctx.get(), Simvastatin("RX-1", "P-1", 30), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  v1::IssuePrescriptionResponse rx = Issue("city-hosp-1", Simvastatin("RX-1", "P-1", 30));
  ASSERT_EQ(rx.outcome(), v1::CREATED);
  for (const char* org : {"city-hosp-1", "lab-regional", "health-commission", "patient-portal"}) {
    v1::DispensePrescriptionResponse d;
    ctx = server::NewContext(absl::Seconds(10));
    s = StubAs(org)->DispensePrescription(ctx.get(), Dispensing(rx, "D-1", 1), &d);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << org;
    v1::LookupPrescriptionRequest lookup;
    lookup.set_prescription_id(rx.prescription_id());
    lookup.set_verification_code(rx.verification_code());
    v1::LookupPrescriptionResponse found;
    ctx = server::NewContext(absl::Seconds(10));
    s = StubAs(org)->LookupPrescription(ctx.get(), lookup, &found);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << org;
  }
  // Someone else's prescription is not the county hospital's to cancel.
  v1::CancelPrescriptionRequest cancel;
  cancel.set_prescription_id(rx.prescription_id());
  cancel.set_reason("wrong patient");
  v1::PrescriptionStateResponse state;
  ctx = server::NewContext(absl::Seconds(10));
  s = StubAs("county-hosp-east")->CancelPrescription(ctx.get(), cancel, &state);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Count("SELECT count(*) FROM prescription WHERE status = 1"), 1);
}

TEST_F(PrescriptionsGrpcTest, TwoPharmaciesDispensingAtOnceNeverExceedTheQuantity) {
  constexpr int64_t kQuantity = 40;
  v1::IssuePrescriptionResponse rx = Issue("city-hosp-1", Simvastatin("RX-9", "P-9", kQuantity));
  ASSERT_EQ(rx.outcome(), v1::CREATED);
  // 16 clients in two pharmacies, 80 single-tablet dispensings for 40
  // tablets: exactly 40 succeed, the rest are refused for what remains.
  std::atomic<int> created{0}, refused{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      const std::string pharmacy = c % 2 == 0 ? "pharm-central" : "pharm-east";
      auto stub = StubAs(pharmacy);
      for (int i = 0; i < 5; ++i) {
        v1::DispensePrescriptionResponse d;
        auto ctx = server::NewContext(absl::Seconds(30));
        grpc::Status s = stub->DispensePrescription(
            ctx.get(), Dispensing(rx, absl::StrCat("D-", c, "-", i), 1), &d);
        if (s.ok() && d.outcome() == v1::CREATED) {
          ++created;
        } else if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(created.load(), kQuantity);
  EXPECT_EQ(refused.load(), 80 - kQuantity);
  EXPECT_EQ(other.load(), 0);
  ASSERT_OK_AND_ASSIGN(auto stored, store_.Get(rx.prescription_id()));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->prescription.items(0).dispensed_quantity(), kQuantity);
  EXPECT_EQ(stored->prescription.status(), v1::DISPENSED);
  EXPECT_EQ(stored->prescription.dispensings_size(), kQuantity);
  // One event per dispensing, in the outbox with the data.
  EXPECT_EQ(Count("SELECT count(*) FROM outbox"), 1 + kQuantity);
}

TEST_F(PrescriptionsGrpcTest, BulkPushAnswersEveryItemAndStopsAtTheCap) {
  ASSERT_OK(xrefs_.Apply("test", ids::NewUuid(),
                         {{{"city-hosp-1", "P-7"}, ids::NewUuid(), absl::FromUnixSeconds(1)}}));
  v1::PushPrescriptionsResponse response;
  auto ctx = server::NewContext(absl::Seconds(30));
  auto writer = StubAs("city-hosp-1")->PushPrescriptions(ctx.get(), &response);
  v1::PrescriptionBatch batch;
  const v1::IssuePrescriptionRequest first = Simvastatin("B-1", "P-7", 30);
  *batch.add_items() = first;
  *batch.add_items() = first;                           // the same again
  *batch.add_items() = Simvastatin("B-2", "P-7", 0);    // quantity 0
  v1::IssuePrescriptionRequest clarithromycin = Simvastatin("B-3", "P-7", 14);
  v1::PrescriptionItem* item = clarithromycin.mutable_prescription()->mutable_items(0);
  item->set_drug_code("J01FA09-T250");
  item->set_frequency(v1::BID);
  item->set_days(7);
  *batch.add_items() = clarithromycin;                  // meets simvastatin: refused
  ASSERT_TRUE(writer->Write(batch));
  batch.Clear();
  for (int i = 4; i < 8; ++i) *batch.add_items() = Simvastatin(absl::StrCat("B-", i), "P-8", 30);
  ASSERT_TRUE(writer->Write(batch));
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(response.results_size(), 6);  // 5 answered, one refusal for the rest
  EXPECT_EQ(response.results(0).result().outcome(), v1::CREATED);
  EXPECT_EQ(response.results(1).result().outcome(), v1::UNCHANGED);
  EXPECT_EQ(response.results(1).result().prescription_id(),
            response.results(0).result().prescription_id());
  EXPECT_EQ(response.results(2).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(response.results(2).error(), HasSubstr("prescription.items[0].quantity"));
  EXPECT_EQ(response.results(3).result().outcome(), v1::REFUSED);
  EXPECT_EQ(response.results(4).result().outcome(), v1::CREATED);
  EXPECT_EQ(response.results(5).index(), 5);
  EXPECT_EQ(response.results(5).code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(response.succeeded(), 4);
  EXPECT_EQ(response.failed(), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM prescription"), 2);
}

TEST_F(PrescriptionsGrpcTest, UglyInputIsRefusedWithoutEchoingIt) {
  const std::string secret = "张三 13800138000";
  v1::IssuePrescriptionRequest huge = Simvastatin("RX-H", "P-1", 30);
  huge.mutable_prescription()->set_note(std::string(8 << 20, 'x'));
  v1::IssuePrescriptionResponse out;
  auto ctx = server::NewContext(absl::Seconds(30));
  grpc::Status s = StubAs("city-hosp-1")->IssuePrescription(ctx.get(), huge, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("prescription.note"));

  v1::IssuePrescriptionRequest named = Simvastatin(secret, "P-1", 30);
  ctx = server::NewContext(absl::Seconds(10));
  s = StubAs("city-hosp-1")->IssuePrescription(ctx.get(), named, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), AllOf(HasSubstr("prescription.local_id"), Not(HasSubstr("张三"))));

  v1::LookupPrescriptionRequest lookup;
  lookup.set_prescription_id("'; DROP TABLE prescription; --");
  lookup.set_verification_code("x");
  v1::LookupPrescriptionResponse found;
  ctx = server::NewContext(absl::Seconds(10));
  s = StubAs("pharm-central")->LookupPrescription(ctx.get(), lookup, &found);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Count("SELECT count(*) FROM prescription"), 0);
}

}  // namespace
}  // namespace meridian::prescriptions
