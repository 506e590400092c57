// The records service over real gRPC with mTLS and PostgreSQL, its identity
// cross-reference fed through the real Kafka broker.
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/consent/consent.h"
#include "libs/ids/uuid.h"
#include "libs/kafka/testing.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/testing.h"
#include "libs/server/capacity_testing.h"
#include "libs/server/server.h"
#include "libs/server/testing.h"
#include "libs/status/status_matchers.h"
#include "meridian/patient/v1/events.pb.h"
#include "services/records/pg_record_store.h"
#include "services/records/records_service.h"
#include "services/records/test_util.h"

namespace meridian::records {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Item;

class RecordsGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(pg::Migrate(schema_.pool(), schema_.name(), AllMigrations()));
    server::ServerOptions options = server::testing::TestServerOptions("records-test");
    options.max_message_bytes = kMaxMessageBytes;
    server_ = std::make_unique<server::Server>(options, &directory_);
    server_->AddService(&service_);
    ASSERT_OK(server_->Start());
  }

  std::unique_ptr<v1::Records::Stub> StubAs(const std::string& org) {
    auto ch = server::MakeChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                  server::testing::TlsFor(org));
    EXPECT_OK(ch);
    return v1::Records::NewStub(*ch);
  }

  grpc::Status PushEncounter(const std::string& org, const v1::Encounter& e,
                             v1::PushResult* out) {
    auto ctx = server::NewContext(absl::Seconds(10));
    return StubAs(org)->PushEncounter(ctx.get(), e, out);
  }

  grpc::Status Read(const std::string& org, const std::string& regional,
                    v1::GetPatientRecordResponse* out) {
    v1::GetPatientRecordRequest r;
    r.set_regional_id(regional);
    auto ctx = server::NewContext(absl::Seconds(10));
    return StubAs(org)->GetPatientRecord(ctx.get(), r, out);
  }

  pg::testing::ScratchSchema schema_{"recgrpc", 8};
  orgs::Directory directory_ = server::testing::LoadDirectory();
  PgRecordStore store_{&schema_.pool()};
  xref::PgXrefStore xrefs_{&schema_.pool()};
  consent::OwnInstitutionOnly consent_;
  Records records_{&store_, &xrefs_, &consent_, &directory_};
  RecordsService service_{&records_, &directory_};
  std::unique_ptr<server::Server> server_;
};

TEST_F(RecordsGrpcTest, PatientIndexEventsThroughKafkaLinkTheLongitudinalRecord) {
  // patient-index publishes these two links; the records service's consumer
  // applies them to its cross-reference.
  const std::string topic = kafka::testing::UniqueTopic("patient");
  ASSERT_OK(kafka::EnsureTopics(kafka::testing::Brokers(), {{topic, 3, 1}}));
  const std::string regional = ids::NewUuid();
  std::vector<kafka::Message> messages;
  for (const auto& [org, local] : {std::pair<std::string, std::string>{"thc-riverside", "T-1"},
                                   {"county-hosp-east", "C-77"}}) {
    patient::v1::PatientLinked linked;
    linked.set_organisation_id(org);
    linked.set_local_id(local);
    linked.set_regional_id(regional);
    auto env = outbox::NewEnvelope({.topic = topic, .type = "patient.linked", .key = regional},
                                   linked);
    ASSERT_OK(env);
    messages.push_back({topic, regional, env->SerializeAsString(), {}});
  }
  auto publisher = kafka::MakeKafkaPublisher({.brokers = kafka::testing::Brokers()});
  ASSERT_OK(publisher);
  ASSERT_OK((*publisher)->PublishBatch(messages, absl::Seconds(30)));
  auto consumer = kafka::MakeKafkaConsumer(
      {.brokers = kafka::testing::Brokers(), .group_id = topic, .topics = {topic}},
      publisher->get());
  ASSERT_OK(consumer);
  std::thread consuming([&] {
    (void)(*consumer)->RunBatched(xref::BatchEventHandler(&xrefs_, "records"),
                                  xref::EventHandler(&xrefs_, "records"), 100);
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && xrefs_.LocalIdsOf(regional)->size() < 2) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  (*consumer)->Stop();
  consuming.join();
  ASSERT_EQ(xrefs_.LocalIdsOf(regional)->size(), 2u);

  // Both institutions push; each reads its own, and the referral addressed
  // to the hospital; nothing else is shared without the consent service.
  v1::PushResult pushed;
  v1::Encounter visit = testing::Encounter("TE-1", "T-1");
  *visit.mutable_start_time() = testing::At(absl::Now() - absl::Hours(48));
  *visit.mutable_end_time() = testing::At(absl::Now() - absl::Hours(47));
  ASSERT_TRUE(PushEncounter("thc-riverside", visit, &pushed).ok());
  EXPECT_EQ(pushed.outcome(), v1::CREATED);
  v1::Referral referral = testing::Referral("TR-1", "T-1", "county-hosp-east");
  *referral.mutable_requested_at() = testing::At(absl::Now() - absl::Hours(47));
  auto ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(StubAs("thc-riverside")->PushReferral(ctx.get(), referral, &pushed).ok());
  v1::Encounter admission = testing::Encounter("CE-1", "C-77");
  admission.set_encounter_class(v1::INPATIENT);
  *admission.mutable_start_time() = testing::At(absl::Now() - absl::Hours(24));
  admission.clear_end_time();
  ASSERT_TRUE(PushEncounter("county-hosp-east", admission, &pushed).ok());

  v1::GetPatientRecordResponse record;
  ASSERT_TRUE(Read("county-hosp-east", regional, &record).ok());
  ASSERT_EQ(record.entries_size(), 2);
  EXPECT_EQ(record.entries(0).encounter().local_id(), "CE-1");
  EXPECT_EQ(record.entries(1).referral().local_id(), "TR-1");
  EXPECT_EQ(record.entries(1).organisation_id(), "thc-riverside");
  EXPECT_EQ(record.withheld_size(), 3);

  // Every push and read left its event in the outbox, in the same
  // transactions: 3 records + 1 audit.
  absl::StatusOr<int64_t> pending = schema_.pool().Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FROM outbox")[0].as<int64_t>();
  });
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 4);
}

TEST_F(RecordsGrpcTest, BulkStreamReportsEveryItem) {
  auto ctx = server::NewContext(absl::Seconds(60));
  v1::PushRecordsResponse out;
  auto stub = StubAs("city-hosp-1");
  auto writer = stub->PushRecords(ctx.get(), &out);
  constexpr int kItems = 5000;
  v1::RecordBatch batch;
  for (int i = 0; i < kItems; ++i) {
    v1::Encounter e = testing::Encounter(absl::StrCat("E-", i), absl::StrCat("P-", i % 300));
    *e.mutable_start_time() = testing::At(absl::Now() - absl::Hours(1 + i % 1000));
    *e.mutable_end_time() = testing::At(absl::Now() - absl::Hours(i % 1000));
    if (i % 1000 == 7) e.mutable_diagnoses(0)->set_icd10_code("bad");
    *batch.add_items() = Item(e);
    // Batches of varying size, down to one item per message.
    if (batch.items_size() == 1 + i % 700 || i == kItems - 1) {
      ASSERT_TRUE(writer->Write(batch));
      batch.Clear();
    }
  }
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(out.succeeded(), kItems - 5);
  EXPECT_EQ(out.failed(), 5);
  ASSERT_EQ(out.results_size(), kItems);
  EXPECT_EQ(out.results(1007).index(), 1007);
  EXPECT_EQ(out.results(1007).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(out.results(1007).error(), HasSubstr("encounter.diagnoses[0].icd10_code"));
  EXPECT_EQ(out.results(4999).result().outcome(), v1::CREATED);
  absl::StatusOr<int64_t> stored = schema_.pool().Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FROM record")[0].as<int64_t>();
  });
  EXPECT_EQ(*stored, kItems - 5);
}

// The items [begin, end) of a synthetic bulk push, one stream message (the
// same items on every call).
v1::RecordBatch Batch(int begin, int end) {
  static const absl::Time start = absl::Now() - absl::Hours(2);
  v1::RecordBatch batch;
  for (int i = begin; i < end; ++i) {
    v1::Encounter e = testing::Encounter(absl::StrCat("F-", i), absl::StrCat("P-", i % 97));
    *e.mutable_start_time() = testing::At(start);
    *e.mutable_end_time() = testing::At(start + absl::Minutes(30));
    *batch.add_items() = Item(e);
  }
  return batch;
}

TEST_F(RecordsGrpcTest, DatabaseDownMidStreamLosesNothingAcceptedAndRetriesAreExact) {
  auto count = [&]() -> int64_t {
    absl::StatusOr<int64_t> n = schema_.pool().Transact([](pqxx::work& tx) {
      return tx.exec1("SELECT count(*) FROM record")[0].as<int64_t>();
    });
    return n.ok() ? *n : -1;
  };
  auto stub = StubAs("city-hosp-1");
  auto ctx = server::NewContext(absl::Seconds(120));
  v1::PushRecordsResponse out;
  auto writer = stub->PushRecords(ctx.get(), &out);
  ASSERT_TRUE(writer->Write(Batch(0, 5000)));  // one full transaction
  for (int i = 0; i < 300 && count() < 5000; ++i) absl::SleepFor(absl::Milliseconds(100));
  ASSERT_EQ(count(), 5000);
  ASSERT_EQ(kafka::testing::Ctl("stop postgres"), 0);
  ASSERT_TRUE(writer->Write(Batch(5000, 8000)));
  writer->WritesDone();
  grpc::Status finished = writer->Finish();
  ASSERT_EQ(kafka::testing::Ctl("start postgres"), 0);
  ASSERT_TRUE(finished.ok()) << finished.error_message();
  ASSERT_EQ(out.results_size(), 8000);
  EXPECT_EQ(out.succeeded(), 5000);
  EXPECT_EQ(out.results(4999).result().outcome(), v1::CREATED);
  EXPECT_EQ(out.results(5000).code(), static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  EXPECT_EQ(out.results(7999).code(), static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  EXPECT_EQ(count(), 5000);

  // The client retries everything: what was stored is unchanged, the rest
  // is created, and nothing is stored twice.
  ctx = server::NewContext(absl::Seconds(120));
  v1::PushRecordsResponse retry;
  writer = stub->PushRecords(ctx.get(), &retry);
  ASSERT_TRUE(writer->Write(Batch(0, 8000)));
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(retry.succeeded(), 8000);
  EXPECT_EQ(retry.results(0).result().outcome(), v1::UNCHANGED);
  EXPECT_EQ(retry.results(7999).result().outcome(), v1::CREATED);
  EXPECT_EQ(count(), 8000);
  absl::StatusOr<int64_t> events = schema_.pool().Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT coalesce(sum(events), 0) FROM outbox")[0].as<int64_t>();
  });
  ASSERT_OK(events);
  EXPECT_EQ(*events, 8000);  // one event per stored record, none for retries
}

// A hospital pushes encounters at ten times its capacity (its rate limit):
// what is accepted is stored, once; what is refused stores nothing and says
// when to retry; memory stays bounded; a health centre is served alongside.
TEST_F(RecordsGrpcTest, TenTimesCapacityStoresWhatItAcceptsAndNothingElse) {
  auto limited = server::testing::LimitedServer(&service_, &directory_, 20);
  auto flooder = server::testing::StubOn<v1::Records>(*limited, "city-hosp-1");
  auto calm = server::testing::StubOn<v1::Records>(*limited, "thc-riverside");
  const server::testing::CapacityRun run = server::testing::FloodAlongside(
      [&](int n, grpc::ClientContext& ctx) {
        v1::PushResult out;
        return flooder->PushEncounter(
            &ctx, testing::Encounter(absl::StrCat("FLOOD-", n), absl::StrCat("P-", n % 50)),
            &out);
      },
      [&](int i) {
        v1::PushResult out;
        auto ctx = server::NewContext(absl::Seconds(10));
        return calm->PushEncounter(
            ctx.get(), testing::Encounter(absl::StrCat("CALM-", i), "P-calm"), &out);
      });
  EXPECT_TRUE(server::testing::HeldAtCapacity(run, 20));
  absl::StatusOr<int64_t> stored = schema_.pool().Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FROM record WHERE organisation_id = 'city-hosp-1'")[0]
        .as<int64_t>();
  });
  ASSERT_OK(stored);
  EXPECT_EQ(*stored, run.flood.accepted);
  limited->Shutdown();
}
TEST_F(RecordsGrpcTest, AStreamPastItsCapStoresNothingMoreAndStaysSmall) {
  RecordsService capped(&records_, &directory_, /*max_bulk_items=*/10);
  server::Server srv(server::testing::TestServerOptions("records-cap"), &directory_);
  srv.AddService(&capped);
  ASSERT_OK(srv.Start());
  auto ch = server::MakeChannel(absl::StrCat("127.0.0.1:", srv.port()),
                                server::testing::TlsFor("city-hosp-1"));
  ASSERT_OK(ch);
  auto ctx = server::NewContext(absl::Seconds(30));
  v1::PushRecordsResponse out;
  auto writer = v1::Records::NewStub(*ch)->PushRecords(ctx.get(), &out);
  ASSERT_TRUE(writer->Write(Batch(0, 7)));
  ASSERT_TRUE(writer->Write(Batch(7, 25)));
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(out.succeeded(), 10);
  EXPECT_EQ(out.failed(), 15);
  ASSERT_EQ(out.results_size(), 11);  // one per stored item, one for the rest
  EXPECT_EQ(out.results(10).index(), 10);
  EXPECT_EQ(out.results(10).code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  absl::StatusOr<int64_t> stored = schema_.pool().Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FROM record")[0].as<int64_t>();
  });
  EXPECT_EQ(*stored, 10);
  srv.Shutdown();
}

TEST_F(RecordsGrpcTest, BadInputRolesAndStrangersAreRefusedCleanly) {
  v1::PushResult out;
  v1::Encounter e = testing::Encounter("E-1", "P-1");
  e.mutable_diagnoses(0)->set_icd10_code("13800138000");
  grpc::Status s = PushEncounter("city-hosp-1", e, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("encounter.diagnoses[0].icd10_code"));
  EXPECT_THAT(s.error_message(), Not(HasSubstr("13800138000")));

  // A document over the text limit names the field; one over the message
  // limit is refused by gRPC before it reaches the service.
  v1::ClinicalDocument d = testing::Document("D-1", "P-1");
  d.set_text(std::string(300 << 10, 'x'));
  auto ctx = server::NewContext(absl::Seconds(10));
  s = StubAs("city-hosp-1")->PushDocument(ctx.get(), d, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("document.text"));
  d.set_text(std::string(kMaxMessageBytes + 1, 'x'));
  ctx = server::NewContext(absl::Seconds(10));
  s = StubAs("city-hosp-1")->PushDocument(ctx.get(), d, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // A pharmacy does not push clinical records; a laboratory does not read them.
  s = PushEncounter("pharm-central", testing::Encounter("E-2", "P-1"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::GetPatientRecordResponse record;
  s = Read("lab-regional", ids::NewUuid(), &record);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // A certificate from another CA never gets in.
  s = PushEncounter("rogue-client", testing::Encounter("E-3", "P-1"), &out);
  EXPECT_NE(s.error_code(), grpc::StatusCode::OK);
  absl::StatusOr<int64_t> stored = schema_.pool().Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FROM record")[0].as<int64_t>();
  });
  EXPECT_EQ(*stored, 0);
}

}  // namespace
}  // namespace meridian::records
