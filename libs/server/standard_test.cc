// Standard checks against the real PostgreSQL and Kafka.
#include "libs/server/standard.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "libs/kafka/in_memory.h"
#include "libs/kafka/testing.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/testing.h"
#include "libs/server/testing.h"
#include "libs/status/status_matchers.h"

namespace meridian::server {
namespace {

using ::testing::HasSubstr;

TEST(StandardChecks, HealthAndGaugesReflectDependencies) {
  pg::testing::ScratchSchema schema("std");
  ASSERT_OK(pg::Migrate(schema.pool(), schema.name(), {outbox::MigrationSet()}));
  kafka::InMemoryPublisher publisher;
  outbox::Relay relay(&schema.pool(), &publisher);
  auto directory = testing::LoadDirectory();
  ServerOptions o = testing::TestServerOptions("std-test");
  o.metrics_port = 0;
  Server srv(o, &directory);
  AddStandardChecks(srv, schema.pool(), kafka::testing::Brokers(), &relay);
  ASSERT_OK(srv.Start());
  EXPECT_TRUE(srv.serving());

  ASSERT_OK(schema.pool().Transact([](pqxx::work& tx) -> absl::Status {
    google::protobuf::StringValue v;
    for (int i = 0; i < 3; ++i) {
      auto e = outbox::Append(tx, {.topic = "t", .type = "x", .key = "k"}, v);
      if (!e.ok()) return e.status();
    }
    return absl::OkStatus();
  }));
  srv.CheckHealthNow();
  std::string metrics = testing::HttpGet(srv.metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("meridian_outbox_pending_events 3"));
  EXPECT_THAT(metrics, HasSubstr("meridian_dependency_up{dependency=\"postgres\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("meridian_dependency_up{dependency=\"kafka\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("meridian_pg_pool_connections{state=\"max\"} 4"));

  ASSERT_OK(relay.RunOnce());
  srv.CheckHealthNow();
  metrics = testing::HttpGet(srv.metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("meridian_outbox_pending_events 0"));
}

TEST(StandardChecks, UnreachableKafkaIsNotServing) {
  pg::testing::ScratchSchema schema("std2");
  auto directory = testing::LoadDirectory();
  Server srv(testing::TestServerOptions("std-test-2"), &directory);
  AddStandardChecks(srv, schema.pool(), "127.0.0.1:1", nullptr);
  ASSERT_OK(srv.Start());
  EXPECT_FALSE(srv.serving());
}

}  // namespace
}  // namespace meridian::server
