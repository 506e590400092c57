// The privacy report can fail: a topic holding a registration as the
// patient index received it (names, phone, resident ID) is caught, and one
// holding the same registration de-identified is not.
#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/deid/deid.h"
#include "libs/kafka/testing.h"
#include "tests/e2e/e2e.h"

namespace meridian {
namespace {

namespace pv1 = ::meridian::patient::v1;

class PrivacyReportTest : public e2e::PlatformTest {
 protected:
  // meridian-privacy report over `topic`: its exit code.
  int Report(const std::string& topic) {
    const std::string command =
        absl::StrCat(MERIDIAN_PRIVACY_BINARY, " report --topic=", topic, " > /dev/null");
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  void Publish(const std::string& topic, const google::protobuf::Message& payload) {
    auto env = outbox::NewEnvelope({.topic = topic, .type = "patient.registered", .key = run_},
                                   payload);
    ASSERT_TRUE(env.ok());
    auto publisher = kafka::MakeKafkaPublisher({.brokers = kafka::testing::Brokers()});
    ASSERT_TRUE(publisher.ok());
    ASSERT_TRUE((*publisher)
                    ->PublishBatch({{topic, run_, env->SerializeAsString(), {}}},
                                   absl::Seconds(30))
                    .ok());
  }
};

TEST_F(PrivacyReportTest, FindsIdentifiersAndPassesTheirDeidentifiedForm) {
  // A person the patient index now holds.
  pv1::RegisterPatientRequest person = patient::testing::Person(
      "PR-" + run_, family_, given_, birth_, absl::StrCat("139", 10000000 + rng_() % 89999999));
  pv1::RegisterPatientResponse registered;
  auto ctx = server::NewContext(absl::Seconds(10));
  ASSERT_TRUE(Index("city-hosp-1")->RegisterPatient(ctx.get(), person, &registered).ok());

  const std::string raw = kafka::testing::UniqueTopic("privacy-raw");
  const std::string clean = kafka::testing::UniqueTopic("privacy-clean");
  ASSERT_TRUE(kafka::EnsureTopics(kafka::testing::Brokers(), {{raw, 1, 1}, {clean, 1, 1}}).ok());
  Publish(raw, person);
  EXPECT_EQ(Report(raw), 1);

  auto policy = deid::LoadPolicy(server::testing::Env("MERIDIAN_ROOT") +
                                 "/deploy/deid/public_health.textproto");
  ASSERT_TRUE(policy.ok());
  auto guard = deid::Deidentifier::Create(*policy, {{"t", std::string(32, 'z')}});
  ASSERT_TRUE(guard.ok());
  ASSERT_TRUE((*guard)->Apply({.id = registered.regional_id(), .as_of = absl::Now(), .names = {}},
                              &person)
                  .ok());
  Publish(clean, person);
  EXPECT_EQ(Report(clean), 0);
}

}  // namespace
}  // namespace meridian
