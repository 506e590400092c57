// The chassis over real TLS, with the development certificates from
// `tools/meridian certs` and, for the health test, the real PostgreSQL.
#include "libs/server/server.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "libs/kafka/testing.h"
#include "libs/pg/pool.h"
#include "libs/server/client.h"
#include "libs/server/testing.h"
#include "libs/status/grpc_status.h"
#include "libs/status/status_matchers.h"
#include "meridian/testing/v1/echo.grpc.pb.h"

namespace meridian::server {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::meridian::testing::v1::EchoRequest;
using ::meridian::testing::v1::EchoResponse;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::Env;
using testing::HttpGet;
using testing::TlsFor;

std::string Cert(absl::string_view name) {
  return absl::StrCat(Env("MERIDIAN_CERTS_DIR"), "/", name);
}

class EchoService : public meridian::testing::v1::Echo::Service {
 public:
  explicit EchoService(const orgs::Directory* directory)
      : directory_(directory) {}
  grpc::Status Echo(grpc::ServerContext* ctx, const EchoRequest* req,
                    EchoResponse* resp) override {
    // Every role may echo; Authorise also applies the rate limit.
    absl::StatusOr<Caller> caller =
        Authorise(*ctx, *directory_,
                  {orgs::Role::kCare, orgs::Role::kPharmacy, orgs::Role::kLab,
                   orgs::Role::kAuthority, orgs::Role::kOperator, orgs::Role::kPatientPortal,
                   orgs::Role::kService});
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (req->sleep_ms() > 0) absl::SleepFor(absl::Milliseconds(req->sleep_ms()));
    if (req->fail_with_code() != 0) {
      return grpc::Status(static_cast<grpc::StatusCode>(req->fail_with_code()),
                          "requested failure");
    }
    resp->set_message(req->message());
    resp->set_caller_organisation(caller->organisation_id);
    resp->set_caller_role(std::string(orgs::RoleName(caller->role)));
    resp->set_request_id(RequestIdOf(*ctx));
    return grpc::Status::OK;
  }

 private:
  const orgs::Directory* directory_;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::make_unique<orgs::Directory>(testing::LoadDirectory());
    StartServer(directory_.get());
  }

  // The metrics exposer (civetweb) takes ~2 s to stop, so only the test
  // that reads metrics asks for it.
  void StartServer(const orgs::Directory* directory,
                   int max_message_bytes = 4 << 20, bool metrics = false) {
    echo_ = std::make_unique<EchoService>(directory);
    ServerOptions o = testing::TestServerOptions("echo-test");
    o.health_port = 0;
    o.metrics_port = metrics ? 0 : -1;
    o.max_message_bytes = max_message_bytes;
    o.log_sink = [this](absl::string_view line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      logs_.emplace_back(line);
    };
    server_ = std::make_unique<Server>(o, directory);
    server_->AddService(echo_.get());
    server_->AddHealthCheck("fake", [this] {
      return healthy_ ? absl::OkStatus() : absl::UnavailableError("down");
    });
    server_->OnShutdown([this] { hook_ran_ = true; });
    ASSERT_OK(server_->Start());
  }

  std::string Target() const { return absl::StrCat("127.0.0.1:", server_->port()); }

  std::unique_ptr<meridian::testing::v1::Echo::Stub> Stub(const ClientTls& tls) {
    auto ch = MakeChannel(Target(), tls);
    EXPECT_OK(ch);
    return meridian::testing::v1::Echo::NewStub(*ch);
  }

  grpc::Status Call(const ClientTls& tls, const EchoRequest& req,
                    EchoResponse* resp, const std::string& request_id = "") {
    // Fail fast: the refusal tests want the handshake's answer, not the
    // deadline that waiting for a connection the server refuses would reach.
    auto ctx = NewContext(absl::Seconds(10), request_id, /*fail_fast=*/true);
    return Stub(tls)->Echo(ctx.get(), req, resp);
  }

  HealthCheckResponse::ServingStatus Health(std::shared_ptr<grpc::Channel> ch,
                                            const std::string& service = "") {
    auto stub = grpc::health::v1::Health::NewStub(ch);
    HealthCheckResponse resp;
    auto ctx = NewContext(absl::Seconds(5));
    HealthCheckRequest req;
    req.set_service(service);
    grpc::Status s = stub->Check(ctx.get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.status();
  }

  std::vector<std::string> Logs() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return logs_;
  }

  std::unique_ptr<orgs::Directory> directory_;
  std::unique_ptr<EchoService> echo_;
  std::unique_ptr<Server> server_;
  std::atomic<bool> healthy_{true};
  std::atomic<bool> hook_ran_{false};
  std::mutex log_mu_;
  std::vector<std::string> logs_;
};

TEST_F(ServerTest, CallerComesFromTheCertificate) {
  EchoRequest req;
  req.set_message("hello");
  EchoResponse resp;
  grpc::Status s = Call(TlsFor("city-hosp-1"), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.message(), "hello");
  EXPECT_EQ(resp.caller_organisation(), "city-hosp-1");
  EXPECT_EQ(resp.caller_role(), "care");
  ASSERT_TRUE(Call(TlsFor("pharm-central"), req, &resp).ok());
  EXPECT_EQ(resp.caller_organisation(), "pharm-central");
  EXPECT_EQ(resp.caller_role(), "pharmacy");
  ASSERT_TRUE(Call(TlsFor("meridian-ops"), req, &resp).ok());
  EXPECT_EQ(resp.caller_role(), "operator");
}

TEST_F(ServerTest, ConcurrentCallsOnOneConnectionAreSafe) {
  // Calls on one channel share the connection's auth context; the chassis
  // must only read it (it once appended to it per call and crashed).
  auto stub = Stub(TlsFor("city-hosp-1"));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 150; ++i) {
        EchoRequest req;
        req.set_message("x");
        EchoResponse resp;
        auto ctx = NewContext(absl::Seconds(10));
        if (stub->Echo(ctx.get(), req, &resp).ok() &&
            resp.caller_organisation() == "city-hosp-1") {
          ++ok;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 8 * 150);
}

TEST_F(ServerTest, RequestIdIsKeptOrMintedAndReturned) {
  EchoRequest req;
  EchoResponse resp;
  auto stub = Stub(TlsFor("city-hosp-1"));
  auto ctx = NewContext(absl::Seconds(10), "req-123.abc");
  ASSERT_TRUE(stub->Echo(ctx.get(), req, &resp).ok());
  EXPECT_EQ(resp.request_id(), "req-123.abc");
  auto it = ctx->GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(it, ctx->GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "req-123.abc");

  auto bad = NewContext(absl::Seconds(10), "has spaces; and 'quotes'");
  ASSERT_TRUE(stub->Echo(bad.get(), req, &resp).ok());
  EXPECT_EQ(resp.request_id().size(), 36u);  // replaced by a UUID
  auto none = NewContext(absl::Seconds(10));
  ASSERT_TRUE(stub->Echo(none.get(), req, &resp).ok());
  EXPECT_EQ(resp.request_id().size(), 36u);
}

TEST_F(ServerTest, CallsWaitForAServerThatIsNotUpYetUnlessFailFast) {
  auto channel = MakeChannel("127.0.0.1:1", TlsFor("city-hosp-1"));
  ASSERT_TRUE(channel.ok());
  auto stub = meridian::testing::v1::Echo::NewStub(*channel);
  EchoRequest req;
  EchoResponse resp;
  auto waiting = NewContext(absl::Milliseconds(300));
  EXPECT_EQ(stub->Echo(waiting.get(), req, &resp).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  auto fast = NewContext(absl::Seconds(10), "", /*fail_fast=*/true);
  const absl::Time start = absl::Now();
  EXPECT_EQ(stub->Echo(fast.get(), req, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(ServerTest, NoClientCertificateIsRefused) {
  EchoRequest req;
  EchoResponse resp;
  ClientTls tls{Cert("ca.pem"), "", ""};
  grpc::Status s = Call(tls, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(ServerTest, CertificateFromAnotherCaIsRefused) {
  EchoRequest req;
  EchoResponse resp;
  grpc::Status s = Call(TlsFor("rogue-client"), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(ServerTest, ExpiredCertificateIsRefused) {
  EchoRequest req;
  EchoResponse resp;
  grpc::Status s = Call(TlsFor("expired-client"), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(ServerTest, RevokedCertificateIsRefused) {
  EchoRequest req;
  EchoResponse resp;
  // The same organisation's other, unrevoked certificate still gets in.
  EXPECT_TRUE(Call(TlsFor("city-hosp-1"), req, &resp).ok());
  grpc::Status s = Call(TlsFor("revoked-client"), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(ServerTest, ARenewedCertificateIsServedWithoutARestart) {
  // A renewal replaces the certificate and key files in place; the server
  // reads them again every tls_reload_interval. To make the swap visible to
  // the client, the new certificate is one it does not trust (the rogue
  // CA's): the handshakes start failing without a restart.
  server_.reset();
  const std::string dir = ::testing::TempDir() + "/reload";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(Cert("server.pem"), dir + "/tls.crt",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(Cert("server.key"), dir + "/tls.key",
                             std::filesystem::copy_options::overwrite_existing);
  ServerOptions o = testing::TestServerOptions("reload-test");
  o.tls_cert_file = dir + "/tls.crt";
  o.tls_key_file = dir + "/tls.key";
  o.tls_reload_interval = absl::Seconds(1);
  server_ = std::make_unique<Server>(o, directory_.get());
  server_->AddService(echo_.get());
  ASSERT_OK(server_->Start());
  EchoRequest req;
  EchoResponse resp;
  ASSERT_TRUE(Call(TlsFor("city-hosp-1"), req, &resp).ok());
  std::filesystem::copy_file(Cert("rogue-client.pem"), dir + "/tls.crt",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(Cert("rogue-client.key"), dir + "/tls.key",
                             std::filesystem::copy_options::overwrite_existing);
  grpc::Status s;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    absl::SleepFor(absl::Milliseconds(200));
    s = Call(TlsFor("city-hosp-1"), req, &resp);
  } while (s.ok() && absl::Now() < deadline);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(ServerTest, AnInstitutionOverItsRateLimitIsSlowedAloneAndToldWhenToRetry) {
  server_.reset();
  ServerOptions o = testing::TestServerOptions("limit-test");
  o.rate_limit = 50;
  o.rate_limit_burst = 50;
  server_ = std::make_unique<Server>(o, directory_.get());
  server_->AddService(echo_.get());
  ASSERT_OK(server_->Start());
  const int64_t rss_before = testing::ResidentKb();

  // The city hospital pushes as fast as 8 threads can for 2 s, far beyond
  // its 50 requests/s; the township centre calls 10 times a second and the
  // records service (a platform service: no limit) 100 times.
  auto flooder = Stub(TlsFor("city-hosp-1"));
  int township_ok = 0, service_ok = 0;
  auto township = Stub(TlsFor("thc-riverside"));
  auto records = Stub(TlsFor("svc-records"));
  const testing::FloodOutcome flood = testing::Flood(
      8,
      [&](int, grpc::ClientContext& ctx) {
        EchoRequest req;
        EchoResponse resp;
        return flooder->Echo(&ctx, req, &resp);
      },
      [&] {
        for (int i = 0; i < 20; ++i) {
          EchoRequest req;
          EchoResponse resp;
          auto ctx = NewContext(absl::Seconds(5));
          if (township->Echo(ctx.get(), req, &resp).ok()) ++township_ok;
          for (int j = 0; j < 5; ++j) {
            auto sctx = NewContext(absl::Seconds(5));
            if (records->Echo(sctx.get(), req, &resp).ok()) ++service_ok;
          }
          absl::SleepFor(absl::Milliseconds(100));
        }
      });
  const double seconds = flood.seconds;

  // What was accepted is what the bucket allows: the burst and 50/s.
  EXPECT_LE(flood.accepted, 50 + 50 * seconds + 5);
  EXPECT_GE(flood.accepted, 50 + 50 * (seconds - 0.5) - 5);
  EXPECT_GE(flood.refused, 5 * flood.accepted) << "not ten times capacity";
  EXPECT_EQ(flood.bad_refusals, 0);
  EXPECT_EQ(flood.other, 0);
  // The others were not slowed by the hospital's flood.
  EXPECT_EQ(township_ok, 20);
  EXPECT_EQ(service_ok, 100);
  // Refusing costs no memory that stays (where resident memory tells).
  if (testing::kResidentMemoryIsMeaningful) {
    EXPECT_LT(testing::ResidentKb() - rss_before, 32 * 1024);
  }
  std::cout << flood.accepted << " accepted, " << flood.refused << " refused in " << seconds
            << " s; RSS " << rss_before << " -> " << testing::ResidentKb() << " kB" << std::endl;
}

TEST_F(ServerTest, OrganisationMissingFromDirectoryIsUnauthenticated) {
  server_.reset();
  auto partial = orgs::Directory::FromText(R"pb(
    organisation {
      id: "city-hosp-1"
      name: "only one"
      type: TERTIARY_HOSPITAL
      district_code: "330102"
    })pb");
  ASSERT_OK(partial);
  StartServer(&*partial);
  EchoRequest req;
  EchoResponse resp;
  EXPECT_TRUE(Call(TlsFor("city-hosp-1"), req, &resp).ok());
  grpc::Status s = Call(TlsFor("pharm-central"), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  server_.reset();
}

TEST_F(ServerTest, CertificateTypeMustMatchDirectory) {
  // The directory says city-hosp-1 is a pharmacy; its certificate says
  // TERTIARY_HOSPITAL: refused.
  server_.reset();
  auto lying = orgs::Directory::FromText(R"pb(
    organisation {
      id: "city-hosp-1"
      name: "mislabelled"
      type: PHARMACY
      district_code: "330102"
    })pb");
  ASSERT_OK(lying);
  StartServer(&*lying);
  EchoRequest req;
  EchoResponse resp;
  EXPECT_EQ(Call(TlsFor("city-hosp-1"), req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  server_.reset();
}

TEST_F(ServerTest, OversizedMessageIsRejectedAndServerStaysUp) {
  server_.reset();
  StartServer(directory_.get(), /*max_message_bytes=*/64 << 10);
  EchoRequest big;
  big.set_message(std::string(100 << 10, 'x'));
  EchoResponse resp;
  EXPECT_EQ(Call(TlsFor("city-hosp-1"), big, &resp).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EchoRequest small;
  small.set_message("ok");
  EXPECT_TRUE(Call(TlsFor("city-hosp-1"), small, &resp).ok());
}

TEST_F(ServerTest, HealthFollowsChecksOnBothPorts) {
  auto tls = MakeChannel(Target(), TlsFor("meridian-ops"));
  ASSERT_OK(tls);
  auto plain = grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server_->health_port()),
      grpc::InsecureChannelCredentials());
  EXPECT_EQ(Health(*tls), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health(plain), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health(plain, kLivenessService), HealthCheckResponse::SERVING);
  healthy_ = false;
  server_->CheckHealthNow();
  EXPECT_EQ(Health(*tls), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Health(plain), HealthCheckResponse::NOT_SERVING);
  // A dependency down makes the pod unready, not dead: liveness stays up.
  EXPECT_EQ(Health(plain, kLivenessService), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health(*tls, kLivenessService), HealthCheckResponse::SERVING);
  healthy_ = true;
  server_->CheckHealthNow();
  EXPECT_EQ(Health(plain), HealthCheckResponse::SERVING);
  // The plaintext port serves health only.
  auto stub = meridian::testing::v1::Echo::NewStub(plain);
  EchoResponse resp;
  auto ctx = NewContext(absl::Seconds(5));
  EXPECT_EQ(stub->Echo(ctx.get(), EchoRequest(), &resp).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ServerTest, HealthFollowsRealPostgres) {
  server_.reset();
  pg::Pool pool(pg::PoolOptions{
      .uri = absl::StrCat(Env("MERIDIAN_PG_URI"), "?connect_timeout=2"),
      .max_connections = 2});
  ASSERT_OK(pool.Ping());
  ServerOptions o = testing::TestServerOptions("pg-health-test");
  o.health_port = 0;
  Server srv(o, directory_.get());
  srv.AddHealthCheck("postgres", [&] { return pool.Ping(); });
  ASSERT_OK(srv.Start());
  auto plain = grpc::CreateChannel(absl::StrCat("127.0.0.1:", srv.health_port()),
                                   grpc::InsecureChannelCredentials());
  auto wait_for = [&](HealthCheckResponse::ServingStatus want) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      if (Health(plain) == want) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  };
  EXPECT_TRUE(wait_for(HealthCheckResponse::SERVING));
  ASSERT_EQ(kafka::testing::Ctl("stop postgres"), 0);
  EXPECT_TRUE(wait_for(HealthCheckResponse::NOT_SERVING));
  ASSERT_EQ(kafka::testing::Ctl("start postgres"), 0);
  EXPECT_TRUE(wait_for(HealthCheckResponse::SERVING));
}

TEST_F(ServerTest, ShutdownDrainsInFlightCallsThenRunsHooks) {
  auto stub = Stub(TlsFor("city-hosp-1"));
  std::atomic<bool> slow_ok{false};
  std::thread slow([&] {
    EchoRequest req;
    req.set_sleep_ms(800);
    EchoResponse resp;
    auto ctx = NewContext(absl::Seconds(10));
    slow_ok = stub->Echo(ctx.get(), req, &resp).ok();
  });
  absl::SleepFor(absl::Milliseconds(200));  // the slow call is in flight
  std::thread waiter([&] { server_->Wait(); });
  server_->Shutdown();
  waiter.join();
  slow.join();
  EXPECT_TRUE(slow_ok);
  EXPECT_TRUE(hook_ran_);
  EXPECT_FALSE(server_->serving());
  EchoResponse resp;
  auto ctx = NewContext(absl::Seconds(2));
  EXPECT_FALSE(stub->Echo(ctx.get(), EchoRequest(), &resp).ok());
}

TEST_F(ServerTest, MetricsAndOneLogLinePerRequestWithoutPayload) {
  server_.reset();
  StartServer(directory_.get(), 4 << 20, /*metrics=*/true);
  EchoRequest req;
  req.set_message("Zhang San 110101199003074518");
  EchoResponse resp;
  ASSERT_TRUE(Call(TlsFor("city-hosp-1"), req, &resp, "log-test-1").ok());
  req.set_fail_with_code(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  ASSERT_FALSE(Call(TlsFor("city-hosp-1"), req, &resp, "log-test-2").ok());

  std::string metrics = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("meridian_rpc_requests_total{code=\"OK\","
                                 "method=\"/meridian.testing.v1.Echo/Echo\","
                                 "service=\"echo-test\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("code=\"INVALID_ARGUMENT\""));
  EXPECT_THAT(metrics, HasSubstr("meridian_rpc_duration_seconds_bucket"));
  EXPECT_THAT(metrics, HasSubstr("meridian_dependency_up{dependency=\"fake\"} 1"));

  std::vector<std::string> lines;
  for (const std::string& l : Logs()) {
    if (absl::StrContains(l, "log-test-")) lines.push_back(l);
  }
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("\"request_id\":\"log-test-1\""));
  EXPECT_THAT(lines[0], HasSubstr("\"code\":\"OK\""));
  EXPECT_THAT(lines[0], HasSubstr("\"organisation\":\"city-hosp-1\""));
  EXPECT_THAT(lines[0], HasSubstr("\"method\":\"/meridian.testing.v1.Echo/Echo\""));
  EXPECT_THAT(lines[1], HasSubstr("\"code\":\"INVALID_ARGUMENT\""));
  for (const std::string& l : lines) {
    EXPECT_THAT(l, Not(HasSubstr("Zhang")));
    EXPECT_THAT(l, Not(HasSubstr("110101")));
    EXPECT_THAT(l, Not(HasSubstr("requested failure")));
  }
}

TEST_F(ServerTest, ReflectionListsServices) {
  // gRPC's reflection library already links the generated reflection
  // messages without installing their headers, so speak the protocol with raw
  // bytes: ServerReflectionRequest{list_services: ""} is field 7, empty.
  auto ch = MakeChannel(Target(), TlsFor("meridian-ops"));
  ASSERT_OK(ch);
  auto ctx = NewContext(absl::Seconds(5));
  grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>>
      stream(grpc::internal::ClientReaderWriterFactory<
             grpc::ByteBuffer, grpc::ByteBuffer>::Create(ch->get(), method,
                                                         ctx.get()));
  const char kListServices[] = {0x3a, 0x00};
  grpc::Slice slice(kListServices, sizeof(kListServices));
  grpc::ByteBuffer request(&slice, 1);
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::ByteBuffer response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_THAT(bytes, HasSubstr("meridian.testing.v1.Echo"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace meridian::server
