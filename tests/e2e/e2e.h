// The fixture of the end-to-end tests across the running platform
// (tools/meridian up): channels to each service as any institution of
// deploy/organisations.textproto, and a synthetic person unique to the run
// registered with the real patient index.
#ifndef MERIDIAN_TESTS_E2E_E2E_H_
#define MERIDIAN_TESTS_E2E_E2E_H_

#include <atomic>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/kafka/kafka.h"
#include "libs/kafka/testing.h"
#include "libs/outbox/outbox.h"
#include "libs/server/client.h"
#include "libs/server/testing.h"
#include "meridian/consent/v1/consent.grpc.pb.h"
#include "meridian/patient/v1/patient_index.grpc.pb.h"
#include "services/patient-index/test_util.h"

namespace meridian::e2e {

namespace pv1 = ::meridian::patient::v1;
namespace cv1 = ::meridian::consent::v1;

inline std::string Address(const std::string& service) {
  return server::testing::ServiceAddress(service);
}

// A stub of `Service` at `service`'s address, as `org`.
template <typename Service>
std::unique_ptr<typename Service::Stub> StubAs(const std::string& service,
                                               const std::string& org) {
  auto ch = server::MakeChannel(Address(service), server::testing::TlsFor(org));
  EXPECT_TRUE(ch.ok());
  return Service::NewStub(*ch);
}

// Calls `call` (a function returning a grpc::Status) until it answers
// anything but NOT_FOUND, for up to 60 s: the services learn a patient from
// the patient index's events a moment after the registration.
template <typename Call>
grpc::Status UntilLinked(Call call) {
  grpc::Status s;
  for (int i = 0; i < 300; ++i) {
    s = call();
    if (s.error_code() != grpc::StatusCode::NOT_FOUND) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return s;
}

class PlatformTest : public ::testing::Test {
 protected:
  // Kafka clients of this test act as `who` (a certificate in the
  // development certificates) over the broker's TLS listener, e.g. the
  // privacy auditor, the de-identified topic's one reader besides analytics.
  void UseKafkaAs(const std::string& who) { brokers_ = kafka::testing::ActAs(who); }

  // The envelopes on `topic` (read from its start by a new consumer group)
  // that `keep` accepts, in order, once there are `count` of them or
  // `timeout` has passed.
  std::vector<events::v1::EventEnvelope> AwaitEvents(
      const std::string& topic, const std::function<bool(const events::v1::EventEnvelope&)>& keep,
      size_t count, absl::Duration timeout = absl::Seconds(60)) {
    const std::string brokers =
        brokers_.empty() ? server::testing::Env("MERIDIAN_KAFKA_BROKERS") : brokers_;
    auto publisher = kafka::MakeKafkaPublisher({.brokers = brokers});
    EXPECT_TRUE(publisher.ok());
    auto consumer = kafka::MakeKafkaConsumer(
        {.brokers = brokers,
         .group_id = absl::StrCat("e2e-", run_, "-", ++groups_),
         .topics = {topic}},
        publisher->get());
    EXPECT_TRUE(consumer.ok());
    std::vector<events::v1::EventEnvelope> kept;  // read after the thread ends
    std::atomic<size_t> seen{0};
    std::thread consuming([&] {
      (void)(*consumer)->Run([&](const kafka::ConsumedMessage& m) {
        absl::StatusOr<events::v1::EventEnvelope> e = outbox::ParseEnvelope(m);
        if (e.ok() && keep(*e)) {
          kept.push_back(*std::move(e));
          ++seen;
        }
        return absl::OkStatus();
      });
    });
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline && seen.load() < count) absl::SleepFor(absl::Milliseconds(100));
    (*consumer)->Stop();
    consuming.join();
    return kept;
  }

  std::unique_ptr<pv1::PatientIndex::Stub> Index(const std::string& org) {
    return StubAs<pv1::PatientIndex>("patient-index", org);
  }
  std::unique_ptr<cv1::Consent::Stub> Portal() {
    return StubAs<cv1::Consent>("consent", "patient-portal");
  }

  // The patient portal records a directive for `regional` about `category`,
  // for everyone or only for the institution `only_for`.
  std::string Directive(const std::string& regional, cv1::Effect effect,
                        const std::string& only_for = "",
                        cv1::DataCategory category = cv1::RECORDS) {
    cv1::GrantRequest g;
    g.mutable_directive()->set_regional_id(regional);
    g.mutable_directive()->set_effect(effect);
    g.mutable_directive()->add_categories(category);
    if (only_for.empty()) {
      g.mutable_directive()->mutable_recipients()->set_everyone(true);
    } else {
      g.mutable_directive()->mutable_recipients()->mutable_organisations()->add_ids(only_for);
    }
    cv1::Directive out;
    grpc::Status s = UntilLinked([&] {
      auto ctx = server::NewContext(absl::Seconds(10));
      return Portal()->Grant(ctx.get(), g, &out);
    });
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.directive_id();
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
  int groups_ = 0;
  std::string brokers_;  // set by UseKafkaAs
  const std::string birth_ = absl::StrCat(1940 + rng_() % 60, "-0", 1 + rng_() % 9, "-",
                                          10 + rng_() % 19);
};

}  // namespace meridian::e2e

#endif  // MERIDIAN_TESTS_E2E_E2E_H_
