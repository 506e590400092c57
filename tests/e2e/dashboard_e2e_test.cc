// The dashboard end to end (tools/meridian up, build/dashboard bundled):
// de-identified events for a year of its own — as deid-stream would produce
// them — go to meridian.deid.v1; once the analytics service has counted
// them, services/analytics/web/test/dashboard.test.mjs drives Debian's
// headless Chromium through the dashboard with the health commission's
// certificate and checks every panel against the JSON API. Its screenshot
// is left in the build directory (dashboard.png), never committed.
#include <cstdlib>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/ids/uuid.h"
#include "libs/kafka/kafka.h"
#include "libs/kafka/testing.h"
#include "libs/server/client.h"
#include "libs/server/testing.h"
#include "meridian/analytics/v1/analytics.grpc.pb.h"
#include "meridian/audit/v1/events.pb.h"
#include "meridian/events/v1/envelope.pb.h"
#include "meridian/prescriptions/v1/events.pb.h"
#include "meridian/records/v1/events.pb.h"
#include "tests/e2e/e2e.h"

namespace meridian {
namespace {

namespace av1 = ::meridian::analytics::v1;
using server::testing::Env;

events::v1::EventEnvelope Envelope(const std::string& type, const std::string& org,
                                   int64_t seconds, const google::protobuf::Message& payload) {
  events::v1::EventEnvelope env;
  env.set_event_id(ids::NewUuid());
  env.set_type(type);
  env.set_source_organisation(org);
  env.set_regional_patient_id(ids::NewUuid());  // stands for a pseudonym
  env.mutable_occurred_at()->set_seconds(seconds);
  env.mutable_payload()->PackFrom(payload);
  return env;
}

TEST(DashboardE2eTest, EveryPanelShowsWhatTheApiAnswersWithSmallCellsSuppressed) {
  // A year no other run uses (the local database keeps earlier runs' counts).
  std::mt19937 rng(std::random_device{}());
  const int year = 1900 + static_cast<int>(rng() % 100);
  const int64_t mid_year = absl::ToUnixSeconds(
      absl::FromCivil(absl::CivilDay(year, 6, 15), absl::UTCTimeZone()));

  // Encounters per institution: 2 is suppressed, and 8 with it (the next
  // smallest), so that the total cannot give the 2 away.
  const std::vector<std::pair<std::string, int>> encounters = {
      {"city-hosp-1", 30}, {"county-hosp-east", 12}, {"thc-hillview", 8}, {"thc-riverside", 2}};
  std::vector<kafka::Message> messages;
  int total = 0;
  for (const auto& [org, n] : encounters) {
    for (int i = 0; i < n; ++i, ++total) {
      records::v1::EncounterRecorded e;
      e.set_organisation_id(org);
      e.set_version(1);
      e.mutable_encounter()->set_encounter_class(records::v1::OUTPATIENT);
      e.mutable_encounter()->mutable_start_time()->set_seconds(mid_year + i * 86400);
      auto* d = e.mutable_encounter()->add_diagnoses();
      d->set_icd10_code(i % 3 == 0 ? "I10" : "J06.9");
      d->set_primary(true);
      prescriptions::v1::PrescriptionChanged p;
      p.set_organisation_id(org);
      p.mutable_occurred_at()->set_seconds(mid_year + i * 86400);
      auto* item = p.add_items();
      item->set_atc_code(i % 4 == 0 ? "J01CA04" : "C09AA02");
      item->set_antibiotic(i % 4 == 0);
      for (const auto& env : {Envelope("encounter.recorded", org, mid_year, e),
                              Envelope("prescription.issued", org, mid_year, p)}) {
        messages.push_back({"meridian.deid.v1", env.regional_patient_id(),
                            env.SerializeAsString(), {}});
      }
    }
  }
  const std::string from = absl::StrCat(year, "-01-01"), to = absl::StrCat(year, "-12-31");
  auto counted = [&](av1::Measure measure) -> int64_t {
    av1::QueryRequest q;
    q.set_measure(measure);
    q.set_from_date(from);
    q.set_to_date(to);
    av1::QueryResponse out;
    auto ctx = server::NewContext(absl::Seconds(10));
    grpc::Status s = e2e::StubAs<av1::Analytics>("analytics", "health-commission")
                         ->Query(ctx.get(), q, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.total();
  };
  const int64_t before = counted(av1::ENCOUNTERS);
  const int64_t referrals_before = counted(av1::REFERRALS);
  const int64_t reads_before = counted(av1::CROSS_INSTITUTION_READS);

  // Only deid-stream may write the topic (its ACLs): the test acts as it.
  const std::string certs = Env("MERIDIAN_CERTS_DIR");
  const std::string deid_brokers = kafka::testing::ActAs("svc-deid-stream");
  // Referrals between tiers (6 from a township centre up to a county
  // hospital, 2 from another to the city: suppressed) and records read across
  // institutions (7 by the city hospital).
  auto add = [&](const std::string& type, const std::string& org,
                 const google::protobuf::Message& payload) {
    const auto env = Envelope(type, org, mid_year, payload);
    messages.push_back({"meridian.deid.v1", env.regional_patient_id(), env.SerializeAsString(), {}});
  };
  for (int i = 0; i < 8; ++i) {
    records::v1::ReferralChanged r;
    r.set_organisation_id(i < 6 ? "thc-riverside" : "thc-hillview");
    r.set_version(1);
    r.mutable_referral()->set_status(records::v1::REQUESTED);
    r.mutable_referral()->set_to_organisation_id(i < 6 ? "county-hosp-east" : "city-hosp-1");
    r.mutable_referral()->mutable_requested_at()->set_seconds(mid_year);
    add("referral.changed", r.organisation_id(), r);
  }
  for (int i = 0; i < 7; ++i) {
    audit::v1::AccessRecorded a;
    a.set_service("records");
    a.set_accessor_organisation("city-hosp-1");
    a.add_disclosed_organisations("county-hosp-east");
    add("access.recorded", "city-hosp-1", a);
  }

  auto publisher = kafka::MakeKafkaPublisher({.brokers = deid_brokers,
                                              .client_id = "dashboard-e2e"});
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  ASSERT_TRUE((*publisher)->PublishBatch(messages, absl::Seconds(30)).ok());

  // Wait until the analytics service has counted them all (on top of what
  // an earlier run drawing the same year left): the page and the API must see
  // the same counts.
  auto all_counted = [&] {
    return counted(av1::ENCOUNTERS) == before + total &&
           counted(av1::REFERRALS) == referrals_before + 8 &&
           counted(av1::CROSS_INSTITUTION_READS) == reads_before + 7;
  };
  bool done = false;
  for (absl::Time deadline = absl::Now() + absl::Seconds(90); !done && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(500))) {
    done = all_counted();
  }
  ASSERT_TRUE(done) << "encounters " << counted(av1::ENCOUNTERS) << " of " << before + total;

  const std::string https = Env("MERIDIAN_ANALYTICS_HTTPS_ADDR");
  const std::string command = absl::StrCat(
      "ANALYTICS_PORT=", https.substr(https.rfind(':') + 1), " FROM=", from, " TO=", to,
      " CERT=", certs, "/health-commission.pem KEY=", certs, "/health-commission.key CA=",
      Env("MERIDIAN_TLS_CA"), " SCREENSHOT=", MERIDIAN_SCREENSHOT,
      " EXPECT_SUPPRESSED=encounters-institution node ", MERIDIAN_DASHBOARD_TEST);
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

}  // namespace
}  // namespace meridian
