// The consent service against the real PostgreSQL and over real gRPC:
// the directive store contract, the audit chain with every kind of
// tampering, Check with role checks, and the read paths' client.
#include <memory>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "google/protobuf/util/time_util.h"
#include "libs/consent/grpc_checker.h"
#include "libs/ids/uuid.h"
#include "libs/pg/testing.h"
#include "libs/server/capacity_testing.h"
#include "libs/server/server.h"
#include "libs/server/testing.h"
#include "libs/status/status_matchers.h"
#include "meridian/audit/v1/events.pb.h"
#include "services/consent/audit_log.h"
#include "services/consent/consent_service.h"
#include "services/consent/pg_consent_store.h"

namespace meridian::consent {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;

absl::StatusOr<outbox::PendingEvent> NoteEvent(const v1::Directive& d) {
  auto env = outbox::NewEnvelope({.topic = "meridian.consent.v1", .type = "consent.granted",
                                  .key = d.regional_id()},
                                 d);
  if (!env.ok()) return env.status();
  return outbox::PendingEvent{"meridian.consent.v1", *env};
}

enum class StoreKind { kInMemory, kPostgres };

class ConsentStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreKind::kInMemory) {
      store_ = std::make_unique<InMemoryConsentStore>();
      return;
    }
    ASSERT_OK(pg::Migrate(schema_.pool(), schema_.name(), AllMigrations()));
    store_ = std::make_unique<PgConsentStore>(&schema_.pool());
  }
  v1::Directive Directive(const std::string& patient) {
    v1::Directive d;
    d.set_directive_id(ids::NewUuid());
    d.set_regional_id(patient);
    d.set_recorded_by("patient-portal");
    d.set_effect(v1::DENY);
    d.mutable_recipients()->set_everyone(true);
    return d;
  }
  pg::testing::ScratchSchema schema_{"consent"};
  std::unique_ptr<ConsentStore> store_;
};

TEST_P(ConsentStoreTest, CreateIsIdempotentOnTheRequestKeyAndRevokeKeepsTheDirective) {
  const std::string p = ids::NewUuid();
  v1::Directive a = Directive(p);
  ASSERT_OK(store_->Create(a, "k1", NoteEvent));
  v1::Directive again = Directive(p);
  auto same = store_->Create(again, "k1", NoteEvent);
  ASSERT_OK(same);
  EXPECT_EQ(same->directive_id(), a.directive_id());
  ASSERT_OK(store_->Create(Directive(p), "", NoteEvent));
  ASSERT_OK(store_->Create(Directive(ids::NewUuid()), "", NoteEvent));
  EXPECT_EQ(store_->ForPatient(p, false)->size(), 2u);
  auto revoked = store_->Revoke(a.directive_id(), "patient-portal", "changed my mind",
                                absl::Now(), NoteEvent);
  ASSERT_OK(revoked);
  EXPECT_TRUE(revoked->has_revoked_at());
  EXPECT_EQ((*store_->Get(a.directive_id()))->revoke_reason(), "changed my mind");
  EXPECT_EQ(store_->ForPatient(p, false)->size(), 1u);
  EXPECT_EQ(store_->ForPatient(p, true)->size(), 2u);
  EXPECT_TRUE((*store_->Get(a.directive_id()))->has_revoked_at());
  EXPECT_THAT(store_->Revoke(ids::NewUuid(), "x", "", absl::Now(), NoteEvent).status(),
              StatusIs(absl::StatusCode::kNotFound));
}

INSTANTIATE_TEST_SUITE_P(Stores, ConsentStoreTest,
                         ::testing::Values(StoreKind::kInMemory, StoreKind::kPostgres),
                         [](const auto& info) {
                           return info.param == StoreKind::kInMemory ? "InMemory" : "Postgres";
                         });

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(pg::Migrate(schema_.pool(), schema_.name(), AllMigrations()));
    auto key = AuditKey::FromPemFile(server::testing::Env("MERIDIAN_AUDIT_SIGNING_KEY"));
    ASSERT_OK(key);
    key_ = std::make_unique<AuditKey>(*std::move(key));
    auto pub = AuditKey::FromPemFile(server::testing::Env("MERIDIAN_AUDIT_PUBLIC_KEY"));
    ASSERT_OK(pub);
    public_key_ = std::make_unique<AuditKey>(*std::move(pub));
    log_ = std::make_unique<AuditLog>(&schema_.pool(), key_.get(), /*checkpoint_every=*/50);
  }

  events::v1::EventEnvelope Access(const std::string& patient, const std::string& org) {
    audit::v1::AccessRecorded a;
    a.set_service("records");
    a.set_operation("GetPatientRecord");
    a.set_accessor_organisation(org);
    a.set_accessor_role("care");
    a.set_regional_id(patient);
    a.set_purpose(v1::TREATMENT);
    auto* d = a.add_decisions();
    d->set_category(v1::RECORDS);
    d->set_effect(v1::PERMIT);
    a.add_disclosed_organisations(org);
    a.set_items_returned(3);
    return *outbox::NewEnvelope({.topic = "meridian.audit.v1", .type = "access.recorded",
                                 .key = patient},
                                a);
  }

  std::vector<Finding> Verify() {
    std::vector<ChainRow> rows;
    std::vector<Checkpoint> checkpoints;
    EXPECT_OK(schema_.pool().Transact(
        [&](pqxx::work& tx) { return LoadChain(tx, &rows, &checkpoints); }));
    return VerifyChain(rows, checkpoints, *public_key_, /*checkpoint_every=*/50);
  }

  // As an attacker who owns the tables: the append-only triggers go first.
  void Sql(const std::string& sql) {
    ASSERT_OK(schema_.pool().Transact([&](pqxx::work& tx) {
      tx.exec("ALTER TABLE audit_log DISABLE TRIGGER USER;"
              "ALTER TABLE audit_checkpoint DISABLE TRIGGER USER");
      tx.exec(sql);
      return absl::OkStatus();
    }));
  }

  // 120 accesses by two hospitals to two patients; checkpoints at 50, 100
  // and the head.
  void Fill() {
    for (int i = 0; i < 120; ++i) {
      auto appended = log_->Append(Access(i % 3 ? patient_ : other_,
                                          i % 2 ? "city-hosp-1" : "county-hosp-east"));
      ASSERT_OK(appended);
      ASSERT_TRUE(*appended);
    }
    ASSERT_OK(log_->Checkpoint());
    ASSERT_TRUE(Verify().empty());
  }

  static bool Mentions(const std::vector<Finding>& fs, int64_t seq, const std::string& what) {
    for (const Finding& f : fs) {
      if (f.seq == seq && f.problem.find(what) != std::string::npos) return true;
    }
    return false;
  }

  pg::testing::ScratchSchema schema_{"audit"};
  std::unique_ptr<AuditKey> key_, public_key_;
  std::unique_ptr<AuditLog> log_;
  const std::string patient_ = ids::NewUuid(), other_ = ids::NewUuid();
};

TEST_F(AuditLogTest, AppendsOnceAndAnswersWhoSawMyData) {
  events::v1::EventEnvelope e = Access(patient_, "city-hosp-1");
  EXPECT_TRUE(*log_->Append(e));
  EXPECT_FALSE(*log_->Append(e));  // redelivered
  ASSERT_OK(log_->Append(Access(patient_, "county-hosp-east")));
  ASSERT_OK(log_->Append(Access(other_, "city-hosp-1")));
  v1::ListAccessesRequest q;
  q.set_regional_id(patient_);
  q.set_page_size(1);
  auto page = log_->ListAccesses(q);
  ASSERT_OK(page);
  ASSERT_EQ(page->accesses_size(), 1);
  EXPECT_EQ(page->accesses(0).accessor_organisation(), "county-hosp-east");
  EXPECT_EQ(page->accesses(0).items_returned(), 3);
  q.set_page_token(page->next_page_token());
  page = log_->ListAccesses(q);
  ASSERT_OK(page);
  ASSERT_EQ(page->accesses_size(), 1);
  EXPECT_EQ(page->accesses(0).accessor_organisation(), "city-hosp-1");
  events::v1::EventEnvelope wrong = e;
  wrong.set_type("record.read");
  EXPECT_THAT(log_->Append(wrong).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(Verify().empty());
}

TEST_F(AuditLogTest, TheLogRefusesUpdatesDeletesAndTruncation) {
  Fill();
  for (const char* sql : {"UPDATE audit_log SET hash = 'x' WHERE seq = 3",
                          "DELETE FROM audit_log WHERE seq = 4", "TRUNCATE audit_log",
                          "DELETE FROM audit_checkpoint", "TRUNCATE audit_checkpoint"}) {
    absl::Status s = schema_.pool().Transact([&](pqxx::work& tx) {
      tx.exec(sql);
      return absl::OkStatus();
    });
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kPermissionDenied)) << sql;
  }
  EXPECT_TRUE(Verify().empty());
}

TEST_F(AuditLogTest, AChangedRowIsCaught) {
  Fill();
  Sql("UPDATE audit_log SET entry = entry || '\\x00'::bytea WHERE seq = 37");
  EXPECT_TRUE(Mentions(Verify(), 37, "content changed"));
}

TEST_F(AuditLogTest, HidingAnAccessFromThePatientIsCaught) {
  Fill();
  // Moving an access to another patient, or out of a time window, changes
  // only the columns queries filter on.
  Sql("UPDATE audit_log SET regional_id = gen_random_uuid() WHERE seq = 12");
  Sql("UPDATE audit_log SET occurred_at = occurred_at - interval '1 year' WHERE seq = 13");
  auto f = Verify();
  EXPECT_TRUE(Mentions(f, 12, "content changed"));
  EXPECT_TRUE(Mentions(f, 13, "content changed"));
}

TEST_F(AuditLogTest, ADeletedRowIsCaught) {
  Fill();
  Sql("DELETE FROM audit_log WHERE seq = 61");
  auto f = Verify();
  EXPECT_TRUE(Mentions(f, 61, "missing")) << f.size();
  EXPECT_TRUE(Mentions(f, 62, "does not follow"));
}

TEST_F(AuditLogTest, AnInsertedRowIsCaught) {
  Fill();
  // Make room at 70 and slip a forged access in.
  Sql("UPDATE audit_log SET seq = -seq WHERE seq >= 70;"
      "UPDATE audit_log SET seq = -seq + 1 WHERE seq < 0;"
      "INSERT INTO audit_log SELECT 70, gen_random_uuid(), occurred_at, regional_id, entry,"
      " prev_hash, hash FROM audit_log WHERE seq = 69");
  auto f = Verify();
  EXPECT_TRUE(Mentions(f, 70, "content changed"));
  EXPECT_TRUE(Mentions(f, 71, "content changed"));
  EXPECT_TRUE(Mentions(f, 100, "signed checkpoint"));
}

TEST_F(AuditLogTest, ReorderedRowsAreCaught) {
  Fill();
  Sql("UPDATE audit_log SET seq = 1000 WHERE seq = 80;"
      "UPDATE audit_log SET seq = 80 WHERE seq = 81;"
      "UPDATE audit_log SET seq = 81 WHERE seq = 1000;");
  auto f = Verify();
  EXPECT_TRUE(Mentions(f, 80, "content changed"));
  EXPECT_TRUE(Mentions(f, 81, "content changed"));
}

TEST_F(AuditLogTest, AConsistentlyRecomputedChainIsCaughtByTheSignedCheckpoints) {
  Fill();
  // An attacker who knows the algorithm drops row 10 and rehashes the rest.
  std::vector<ChainRow> rows;
  std::vector<Checkpoint> cps;
  ASSERT_OK(schema_.pool().Transact([&](pqxx::work& tx) { return LoadChain(tx, &rows, &cps); }));
  Sql("DELETE FROM audit_log");
  std::string prev = kGenesisHash;
  int64_t seq = 0;
  ASSERT_OK(schema_.pool().Transact([&](pqxx::work& tx) {
    for (const ChainRow& r : rows) {
      if (r.seq == 10) continue;
      ++seq;
      const std::string hash =
          ChainHash(prev, seq, r.event_id, r.occurred_micros, r.regional_id, r.entry);
      tx.exec_params(
          "INSERT INTO audit_log (seq, event_id, occurred_at, regional_id, entry, prev_hash,"
          " hash) VALUES ($1, $2, timestamptz 'epoch' + $3 * interval '1 microsecond', $4,"
          " $5, $6, $7)",
          seq, r.event_id, r.occurred_micros, r.regional_id, pqxx::binarystring(r.entry), prev,
          hash);
      prev = hash;
    }
    return absl::OkStatus();
  }));
  auto f = Verify();
  EXPECT_TRUE(Mentions(f, 50, "rewritten"));
  EXPECT_TRUE(Mentions(f, 100, "rewritten"));
  // And a forged checkpoint signature is caught too.
  Sql("UPDATE audit_checkpoint SET signature = '\\x00'::bytea WHERE seq = 50");
  EXPECT_TRUE(Mentions(Verify(), 50, "signature"));
  // Deleting the checkpoints with it does not help.
  Sql("DELETE FROM audit_checkpoint");
  f = Verify();
  EXPECT_TRUE(Mentions(f, 50, "checkpoint is missing"));
  EXPECT_TRUE(Mentions(f, 100, "checkpoint is missing"));
}

class ConsentServiceGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(pg::Migrate(schema_.pool(), schema_.name(), AllMigrations()));
    ASSERT_OK(xrefs_.Apply("t", ids::NewUuid(),
                           {{{"thc-riverside", "T-1"}, patient_, absl::FromUnixSeconds(1)}}));
    server_ = std::make_unique<server::Server>(
        server::testing::TestServerOptions("consent-test"), &directory_);
    server_->AddService(&service_);
    ASSERT_OK(server_->Start());
  }
  std::shared_ptr<grpc::Channel> ChannelAs(const std::string& org) {
    auto ch = server::MakeChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                  server::testing::TlsFor(org));
    EXPECT_OK(ch);
    return *ch;
  }

  pg::testing::ScratchSchema schema_{"consentgrpc"};
  orgs::Directory directory_ = server::testing::LoadDirectory();
  PgConsentStore store_{&schema_.pool()};
  xref::PgXrefStore xrefs_{&schema_.pool()};
  AuditLog audit_{&schema_.pool(), nullptr};
  ConsentRegistry registry_{&store_, &xrefs_, &directory_,
                            *RegionalDefaults::Parse("TREATMENT=deny")};
  ConsentService service_{&registry_, &audit_, &directory_};
  std::unique_ptr<server::Server> server_;
  const std::string patient_ = ids::NewUuid();
};

TEST_F(ConsentServiceGrpcTest, ThePortalGrantsServicesCheckAndOthersMayNot) {
  auto portal = v1::Consent::NewStub(ChannelAs("patient-portal"));
  v1::GrantRequest g;
  g.mutable_directive()->set_regional_id(patient_);
  g.mutable_directive()->set_effect(v1::PERMIT);
  g.mutable_directive()->mutable_recipients()->mutable_organisations()->add_ids(
      "county-hosp-east");
  v1::Directive granted;
  auto ctx = server::NewContext(absl::Seconds(10));
  grpc::Status s = portal->Grant(ctx.get(), g, &granted);
  ASSERT_TRUE(s.ok()) << s.error_message();

  GrpcChecker checker(ChannelAs("svc-records"), absl::Seconds(5));
  AccessRequest q{.accessor = {"county-hosp-east", orgs::Role::kCare},
                  .regional_id = patient_,
                  .category = v1::RECORDS,
                  .purpose = v1::TREATMENT};
  auto d = checker.Check(q);
  ASSERT_OK(d);
  EXPECT_TRUE(d->permitted());
  EXPECT_EQ(d->decided_by, "directive:" + granted.directive_id());
  q.accessor.organisation_id = "city-hosp-1";
  EXPECT_FALSE(checker.Check(q)->permitted());  // default deny
  // Several categories in one call, in order.
  q.accessor.organisation_id = "county-hosp-east";
  auto all = checker.CheckAll(q, {v1::LABS, v1::RECORDS});
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_TRUE(all->at(0).permitted());
  EXPECT_TRUE(all->at(1).permitted());

  // Only services may ask; a hospital may not ask about others.
  GrpcChecker not_a_service(ChannelAs("city-hosp-1"), absl::Seconds(5));
  EXPECT_THAT(not_a_service.Check(q).status(), StatusIs(absl::StatusCode::kUnavailable,
                                                        HasSubstr("PERMISSION_DENIED")));
  // A pharmacy may not grant.
  ctx = server::NewContext(absl::Seconds(10));
  s = v1::Consent::NewStub(ChannelAs("pharm-central"))->Grant(ctx.get(), g, &granted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// The patient portal grants at ten times its capacity (its rate limit):
// every grant accepted is stored, once; what is refused stores nothing and
// says when to retry; memory stays bounded; a service's checks are answered
// alongside.
TEST_F(ConsentServiceGrpcTest, TenTimesCapacityStoresWhatItAcceptsAndNothingElse) {
  auto limited = server::testing::LimitedServer(&service_, &directory_, 20);
  auto flooder = server::testing::StubOn<v1::Consent>(*limited, "patient-portal");
  auto calm = server::testing::StubOn<v1::Consent>(*limited, "svc-records");
  const server::testing::CapacityRun run = server::testing::FloodAlongside(
      [&](int n, grpc::ClientContext& ctx) {
        v1::GrantRequest g;
        g.set_request_key(absl::StrCat("FLOOD-", n));
        g.mutable_directive()->set_regional_id(patient_);
        g.mutable_directive()->set_effect(v1::PERMIT);
        g.mutable_directive()->mutable_recipients()->mutable_organisations()->add_ids(
            "county-hosp-east");
        v1::Directive out;
        return flooder->Grant(&ctx, g, &out);
      },
      [&](int i) {
        v1::CheckRequest q;
        q.set_accessor_organisation("city-hosp-1");
        q.set_regional_id(patient_);
        q.set_category(v1::RECORDS);
        q.set_purpose(v1::TREATMENT);
        q.set_request_id(absl::StrCat("CALM-", i));
        v1::CheckResponse out;
        auto ctx = server::NewContext(absl::Seconds(10));
        return calm->Check(ctx.get(), q, &out);
      });
  EXPECT_TRUE(server::testing::HeldAtCapacity(run, 20));
  const auto stored = schema_.pool().Read([&](pqxx::nontransaction& tx) {
    return tx.exec1("SELECT count(*) FROM directive")[0].as<int64_t>();
  });
  ASSERT_OK(stored);
  EXPECT_EQ(*stored, run.flood.accepted);
  limited->Shutdown();
}

TEST_F(ConsentServiceGrpcTest, AnUnreachableConsentServiceFailsClosedWithinTheDeadline) {
  auto channel = server::MakeChannel("127.0.0.1:1", server::testing::TlsFor("svc-records"));
  ASSERT_OK(channel);
  GrpcChecker checker(*channel, absl::Milliseconds(300));
  const absl::Time start = absl::Now();
  auto d = checker.Check({.accessor = {"county-hosp-east", orgs::Role::kCare},
                          .regional_id = patient_,
                          .category = v1::RECORDS,
                          .purpose = v1::TREATMENT});
  EXPECT_THAT(d.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace meridian::consent
