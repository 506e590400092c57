// PgAnalyticsStore against the real PostgreSQL, and the HTTPS JSON API with
// the development certificates (MERIDIAN_* environment).
#include <httplib.h>

#include "google/protobuf/util/json_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/pg/migrate.h"
#include "libs/pg/testing.h"
#include "libs/server/testing.h"
#include "libs/status/status_matchers.h"
#include "libs/outbox/outbox.h"
#include "services/analytics/analytics.h"
#include "services/analytics/analytics_service.h"
#include "services/analytics/store.h"

namespace meridian::analytics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Fact At(absl::CivilDay day, v1::Measure m, const std::string& institution,
        const std::string& flag = "", int64_t delta = 1) {
  return {.day = day, .measure = m, .institution = institution, .district = "330102",
          .institution_type = "tertiary_hospital", .code = "I10", .code_group = "IX",
          .flag = flag, .delta = delta};
}

std::string Id(int i) {
  char buf[40];
  snprintf(buf, sizeof(buf), "00000000-0000-4000-8000-%012d", i);
  return buf;
}

class AnalyticsPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(pg::Migrate(schema_.pool(), schema_.name(),
                          {outbox::MigrationSet(), MigrationSet()}));
  }
  pg::testing::ScratchSchema schema_{"analytics"};
  PgAnalyticsStore store_{&schema_.pool()};
};

TEST_F(AnalyticsPgTest, AppliesEachEventOnceAndBreaksDownByThePatientsProfile) {
  Extracted registration;
  registration.patient = "p1";
  registration.profile = Profile{"female", "40-44"};
  ASSERT_OK(store_.Apply(Id(1), registration));
  Extracted encounter;
  encounter.patient = "p1";
  encounter.facts = {At(absl::CivilDay(2026, 3, 2), v1::ENCOUNTERS, "hosp-1", "outpatient")};
  EXPECT_EQ(*store_.Apply(Id(2), encounter), true);
  EXPECT_EQ(*store_.Apply(Id(2), encounter), false);  // redelivered
  Extracted stranger = encounter;
  stranger.patient = "p-unknown";
  ASSERT_OK(store_.Apply(Id(3), stranger));

  CountQuery q{.measure = v1::ENCOUNTERS, .group_by = {v1::SEX, v1::AGE_BAND},
               .from = absl::CivilDay(2026, 1, 1), .to = absl::CivilDay(2026, 12, 31)};
  auto cells = store_.Count(q);
  ASSERT_OK(cells);
  ASSERT_EQ(cells->size(), 2u);
  EXPECT_EQ((*cells)[0].keys, (std::vector<std::string>{"", "female", "40-44"}));
  EXPECT_EQ((*cells)[0].count, 1);  // once, though delivered twice
  EXPECT_EQ((*cells)[1].keys, (std::vector<std::string>{"", "unknown", "unknown"}));
}

TEST_F(AnalyticsPgTest, PeriodsFiltersAndWithdrawals) {
  Extracted x;
  x.facts = {At(absl::CivilDay(2026, 3, 2), v1::LAB_RESULTS, "lab-1", "normal"),
             At(absl::CivilDay(2026, 3, 3), v1::LAB_RESULTS, "lab-1", "critical"),
             At(absl::CivilDay(2026, 3, 9), v1::LAB_RESULTS, "lab-2", "normal"),
             At(absl::CivilDay(2026, 4, 1), v1::LAB_RESULTS, "lab-2", "normal"),
             At(absl::CivilDay(2027, 1, 1), v1::LAB_RESULTS, "lab-2", "normal")};
  ASSERT_OK(store_.Apply(Id(10), x));
  CountQuery q{.measure = v1::LAB_RESULTS, .from = absl::CivilDay(2026, 1, 1), .to = absl::CivilDay(2026, 12, 31),
               .period = v1::WEEK};
  auto weeks = store_.Count(q);
  ASSERT_OK(weeks);
  ASSERT_EQ(weeks->size(), 3u);
  EXPECT_EQ((*weeks)[0].keys[0], "2026-03-02");  // Monday of the ISO week
  EXPECT_EQ((*weeks)[0].count, 2);
  EXPECT_EQ((*weeks)[1].keys[0], "2026-03-09");
  q.period = v1::MONTH;
  q.filters = {{v1::FLAG, {"normal"}}, {v1::INSTITUTION, {"lab-2", "x'); DROP TABLE fact;--"}}};
  auto months = store_.Count(q);
  ASSERT_OK(months);
  ASSERT_EQ(months->size(), 2u);
  EXPECT_EQ((*months)[0].keys[0], "2026-03");
  EXPECT_EQ((*months)[1].keys[0], "2026-04");

  // An encounter withdrawn as entered in error leaves nothing behind.
  Extracted in, out;
  in.facts = {At(absl::CivilDay(2026, 5, 5), v1::ENCOUNTERS, "hosp-1")};
  out.facts = {At(absl::CivilDay(2026, 5, 5), v1::ENCOUNTERS, "hosp-1", "", -1)};
  ASSERT_OK(store_.Apply(Id(11), in));
  ASSERT_OK(store_.Apply(Id(12), out));
  auto none = store_.Count({.measure = v1::ENCOUNTERS, .from = absl::CivilDay(2026, 1, 1), .to = absl::CivilDay(2026, 12, 31)});
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(AnalyticsPgTest, RollupsKeptByApplyEqualRollupsRebuiltFromFacts) {
  int id = 100;
  for (int i = 0; i < 40; ++i) {
    Extracted x;
    x.patient = absl::StrCat("p", i % 7);
    x.profile = Profile{i % 2 ? "male" : "female", absl::StrCat(i % 3 * 5, "-", i % 3 * 5 + 4)};
    Fact f = At(absl::CivilDay(2026, 1 + i % 3, 1 + i % 28), i % 2 ? v1::ENCOUNTERS : v1::LAB_RESULTS,
                absl::StrCat("inst-", i % 4), i % 5 ? "normal" : "critical", i == 13 ? -1 : 1);
    f.code = absl::StrCat("C", i % 6);
    x.facts = {f, f};
    ASSERT_OK(store_.Apply(Id(id++), x));
  }
  auto snapshot = [&] {
    return schema_.pool().Transact([](pqxx::work& tx) {
      std::vector<std::string> rows;
      for (const char* t : {"fact_month_institution", "fact_month_person_region",
                            "fact_month_code_region", "fact_day_institution", "fact_month_person",
                            "fact_month_code_person", "fact_month_code"}) {
        for (const auto& r : tx.exec(absl::StrCat("SELECT * FROM ", t))) {
          std::string line = t;
          for (const auto& f : r) absl::StrAppend(&line, "|", f.c_str());
          rows.push_back(line);
        }
      }
      std::sort(rows.begin(), rows.end());
      return rows;
    });
  };
  auto kept = snapshot();
  ASSERT_OK(kept);
  EXPECT_GT(kept->size(), 30u);
  ASSERT_OK(schema_.pool().Transact([](pqxx::work& tx) { return RebuildRollups(tx); }));
  auto rebuilt = snapshot();
  ASSERT_OK(rebuilt);
  EXPECT_EQ(*kept, *rebuilt);

  // Each table answers what it can, with the same sums as fact.
  CountQuery year{.measure = v1::LAB_RESULTS, .group_by = {v1::INSTITUTION},
                  .from = absl::CivilDay(2026, 1, 1), .to = absl::CivilDay(2026, 12, 31)};
  EXPECT_STREQ(TableUsedFor(year), "fact_month_institution");
  CountQuery daily = year;
  daily.period = v1::DAY;
  EXPECT_STREQ(TableUsedFor(daily), "fact_day_institution");
  CountQuery by_sex = year;
  by_sex.group_by = {v1::SEX};
  EXPECT_STREQ(TableUsedFor(by_sex), "fact_month_person_region");
  CountQuery by_sex_institution = by_sex;
  by_sex_institution.group_by = {v1::SEX, v1::INSTITUTION};
  EXPECT_STREQ(TableUsedFor(by_sex_institution), "fact_month_person");
  CountQuery code_only = by_sex;
  code_only.group_by = {v1::CODE_GROUP};
  EXPECT_STREQ(TableUsedFor(code_only), "fact_month_code_region");
  CountQuery by_code = year;
  by_code.group_by = {v1::CODE, v1::INSTITUTION};
  by_code.period = v1::MONTH;
  EXPECT_STREQ(TableUsedFor(by_code), "fact_month_code");
  CountQuery partial = by_code;
  partial.to = absl::CivilDay(2026, 2, 14);  // half a month: days needed
  EXPECT_STREQ(TableUsedFor(partial), "fact");
  CountQuery weekly = by_sex;
  weekly.period = v1::WEEK;
  EXPECT_STREQ(TableUsedFor(weekly), "fact");
  CountQuery both = year;
  both.group_by = {v1::SEX};
  both.filters = {{v1::CODE, {"C1"}}};
  EXPECT_STREQ(TableUsedFor(both), "fact_month_code_person");
  CountQuery everything = both;
  everything.filters.push_back({v1::INSTITUTION, {"inst-1"}});
  EXPECT_STREQ(TableUsedFor(everything), "fact");
  auto total = [&](const CountQuery& q) {
    int64_t n = 0;
    absl::StatusOr<std::vector<CellCount>> cells = store_.Count(q);  // kept alive
    EXPECT_OK(cells);
    for (const CellCount& c : *cells) n += c.count;
    return n;
  };
  const int64_t all = total(year);
  EXPECT_GT(all, 0);
  EXPECT_EQ(total(by_sex), all);
  EXPECT_EQ(total(by_sex_institution), all);
  EXPECT_EQ(total(code_only), all);
  EXPECT_EQ(total(by_code), all);
  EXPECT_EQ(total(daily), all);
  CountQuery by_code_sex = by_sex;
  by_code_sex.group_by = {v1::SEX, v1::CODE};
  EXPECT_STREQ(TableUsedFor(by_code_sex), "fact_month_code_person");
  EXPECT_EQ(total(by_code_sex), all);
  CountQuery raw = year;
  raw.group_by = {v1::SEX, v1::CODE};  // only fact has both
  EXPECT_EQ(total(raw), all);
}

TEST_F(AnalyticsPgTest, UnknownAttributesKeepKnownOnesAndMovedInstitutionsStayConsistent) {
  Extracted reg;
  reg.patient = "p1";
  reg.profile = Profile{"female", "40-44"};
  ASSERT_OK(store_.Apply(Id(400), reg));
  // A lab report that does not know the sex.
  Extracted lab;
  lab.patient = "p1";
  lab.profile = Profile{"unknown", "40-44"};
  lab.facts = {At(absl::CivilDay(2026, 3, 2), v1::LAB_RESULTS, "lab-1", "normal")};
  ASSERT_OK(store_.Apply(Id(401), lab));
  auto by_sex = store_.Count({.measure = v1::LAB_RESULTS, .group_by = {v1::SEX},
                              .from = absl::CivilDay(2026, 3, 1),
                              .to = absl::CivilDay(2026, 3, 31)});
  ASSERT_OK(by_sex);
  ASSERT_EQ(by_sex->size(), 1u);
  EXPECT_EQ((*by_sex)[0].keys[1], "female");
  // The directory moves lab-1 to another district mid-month: both rows are
  // kept, the institution still sums to one cell, and a rebuild agrees.
  Extracted moved;
  Fact f = At(absl::CivilDay(2026, 3, 20), v1::LAB_RESULTS, "lab-1", "normal");
  f.district = "330199";
  moved.facts = {f};
  ASSERT_OK(store_.Apply(Id(402), moved));
  auto by_institution = store_.Count({.measure = v1::LAB_RESULTS, .group_by = {v1::INSTITUTION},
                                      .from = absl::CivilDay(2026, 3, 1),
                                      .to = absl::CivilDay(2026, 3, 31)});
  ASSERT_OK(by_institution);
  ASSERT_EQ(by_institution->size(), 1u);
  EXPECT_EQ((*by_institution)[0].count, 2);
  ASSERT_OK(schema_.pool().Transact([](pqxx::work& tx) { return RebuildRollups(tx); }));
  auto again = store_.Count({.measure = v1::LAB_RESULTS, .group_by = {v1::DISTRICT},
                             .from = absl::CivilDay(2026, 3, 1),
                             .to = absl::CivilDay(2026, 3, 31)});
  ASSERT_OK(again);
  EXPECT_EQ(again->size(), 2u);
}

TEST_F(AnalyticsPgTest, RollupsAddedAfterCountingBeganAreRebuiltOnce) {
  // Facts counted before a rollup existed: only fact has them.
  Extracted x;
  x.facts = {At(absl::CivilDay(2026, 3, 2), v1::ENCOUNTERS, "hosp-1"),
             At(absl::CivilDay(2026, 3, 9), v1::ENCOUNTERS, "hosp-1")};
  ASSERT_OK(store_.Apply(Id(500), x));
  ASSERT_OK(schema_.pool().Transact([](pqxx::work& tx) {
    tx.exec("TRUNCATE fact_month_institution");
    tx.exec("INSERT INTO maintenance VALUES ('rebuild_rollups') ON CONFLICT DO NOTHING");
    return absl::OkStatus();
  }));
  CountQuery march{.measure = v1::ENCOUNTERS, .from = absl::CivilDay(2026, 3, 1),
                   .to = absl::CivilDay(2026, 3, 31)};
  ASSERT_STREQ(TableUsedFor(march), "fact_month_institution");
  auto before = store_.Count(march);
  ASSERT_OK(before);
  EXPECT_TRUE(before->empty());
  ASSERT_OK(store_.RunMaintenance());
  auto after = store_.Count(march);
  ASSERT_OK(after);
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].count, 2);
  ASSERT_OK(store_.RunMaintenance());  // done: nothing left to do
  auto due = schema_.pool().Transact([](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    return tx.exec1("SELECT count(*) FROM maintenance")[0].as<int64_t>();
  });
  ASSERT_OK(due);
  EXPECT_EQ(*due, 0);
}

TEST_F(AnalyticsPgTest, ConditionsOfKnownPatientsForPrevalence) {
  int id = 300;
  for (const auto& [who, sex] : std::vector<std::pair<std::string, std::string>>{
           {"p1", "female"}, {"p2", "male"}, {"p3", "female"}}) {
    Extracted reg;
    reg.patient = who;
    reg.profile = Profile{sex, "40-44"};
    ASSERT_OK(store_.Apply(Id(id++), reg));
  }
  auto diagnose = [&](const std::string& who, const std::string& code, absl::CivilDay day) {
    Extracted x;
    x.patient = who;
    Fact f = At(day, v1::DIAGNOSES, "hosp-1", "primary");
    f.code = code;
    x.facts = {f};
    return store_.Apply(Id(id++), x);
  };
  ASSERT_OK(diagnose("p1", "I10", absl::CivilDay(2026, 3, 2)));
  ASSERT_OK(diagnose("p1", "I11", absl::CivilDay(2026, 1, 5)));  // same condition, earlier
  ASSERT_OK(diagnose("p2", "E11", absl::CivilDay(2026, 3, 2)));
  ASSERT_OK(diagnose("p3", "I10", absl::CivilDay(2025, 6, 1)));  // still has it
  ASSERT_OK(diagnose("p-unregistered", "I10", absl::CivilDay(2026, 3, 2)));
  // Before anyone was registered (the registrations' day is the envelope's:
  // none here, so the epoch's), no one is counted.
  auto nobody = store_.CountPatients("hypertension", v1::SEX, absl::CivilDay(1969, 12, 31));
  ASSERT_OK(nobody);
  EXPECT_TRUE(nobody->empty());
  auto by_sex = store_.CountPatients("hypertension", v1::SEX, absl::CivilDay(2026, 12, 31));
  ASSERT_OK(by_sex);
  ASSERT_EQ(by_sex->size(), 2u);
  EXPECT_EQ((*by_sex)[0].key, "female");
  EXPECT_EQ((*by_sex)[0].patients, 2);
  EXPECT_EQ((*by_sex)[0].with_condition, 2);  // p1 once (two diagnoses), p3
  EXPECT_EQ((*by_sex)[1].with_condition, 0);
  auto diabetes =
      store_.CountPatients("diabetes", v1::DIMENSION_UNSPECIFIED, absl::CivilDay(2026, 12, 31));
  ASSERT_OK(diabetes);
  ASSERT_EQ(diabetes->size(), 1u);
  EXPECT_EQ((*diabetes)[0].patients, 3);
  EXPECT_EQ((*diabetes)[0].with_condition, 1);
  // p1 counts from its first diagnosis, in January; p3 from 2025.
  auto january =
      store_.CountPatients("hypertension", v1::DIMENSION_UNSPECIFIED, absl::CivilDay(2026, 1, 31));
  ASSERT_OK(january);
  EXPECT_EQ((*january)[0].with_condition, 2);
  auto before = store_.CountPatients("hypertension", v1::DIMENSION_UNSPECIFIED,
                                     absl::CivilDay(2025, 12, 31));
  ASSERT_OK(before);
  EXPECT_EQ((*before)[0].with_condition, 1);
}

class HttpApiTest : public AnalyticsPgTest {
 protected:
  void SetUp() override {
    AnalyticsPgTest::SetUp();
    Extracted x;
    for (int i = 0; i < 12; ++i) x.facts.push_back(At(absl::CivilDay(2026, 3, 2), v1::ENCOUNTERS, "hosp-1"));
    for (int i = 0; i < 2; ++i) x.facts.push_back(At(absl::CivilDay(2026, 3, 2), v1::ENCOUNTERS, "hosp-2"));
    for (int i = 0; i < 7; ++i) x.facts.push_back(At(absl::CivilDay(2026, 3, 2), v1::ENCOUNTERS, "hosp-3"));
    ASSERT_OK(store_.Apply(Id(20), x));
    ASSERT_OK(api_.Start());
  }

  httplib::Result Post(const std::string& who, const std::string& path, const std::string& body) {
    server::ClientTls tls = server::testing::TlsFor(who);
    httplib::SSLClient client("localhost", api_.port(), tls.cert_file, tls.key_file);
    client.set_ca_cert_path(tls.ca_file.c_str());
    client.enable_server_certificate_verification(true);
    return client.Post(path.c_str(), body, "application/json");
  }

  orgs::Directory directory_ = server::testing::LoadDirectory();
  Analytics logic_{&store_, &directory_};
  HttpApi api_{&logic_, &directory_,
               {.host = "127.0.0.1", .port = 0,
                .cert_file = server::testing::Env("MERIDIAN_TLS_CERT"),
                .key_file = server::testing::Env("MERIDIAN_TLS_KEY"),
                .client_ca_file = server::testing::Env("MERIDIAN_TLS_CA"),
                .crl_dir = server::testing::Env("MERIDIAN_TLS_CRL_DIR")}};
};

constexpr char kQuery[] =
    R"({"measure":"ENCOUNTERS","groupBy":["INSTITUTION"],"fromDate":"2026-03-01",)"
    R"("toDate":"2026-03-31"})";

TEST_F(HttpApiTest, TheHealthAuthorityGetsSuppressedJson) {
  auto res = Post("health-commission", "/v1/query", kQuery);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  v1::QueryResponse r;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(res->body, &r).ok()) << res->body;
  ASSERT_EQ(r.cells_size(), 3);
  EXPECT_EQ(r.cells(0).keys(0), "hosp-1");
  EXPECT_EQ(r.cells(0).count(), 12);
  EXPECT_TRUE(r.cells(1).suppressed());  // hosp-3's 7: the complement of hosp-2's 2
  EXPECT_TRUE(r.cells(2).suppressed());
  EXPECT_EQ(r.total(), 21);
  EXPECT_THAT(res->body, HasSubstr("\"suppressed\":true"));
  EXPECT_THAT(res->body, Not(HasSubstr("\"count\":\"0\"")));  // suppressed: no count at all

  auto rate = Post("meridian-ops", "/v1/indicator",
                   R"({"indicator":"PRESCRIPTIONS_PER_100_ENCOUNTERS","fromDate":"2026-03-01",)"
                   R"("toDate":"2026-03-31"})");
  ASSERT_TRUE(rate);
  EXPECT_EQ(rate->status, 200) << rate->body;
}

TEST_F(HttpApiTest, OthersAndBadRequestsAreRefusedWithoutEcho) {
  auto hospital = Post("city-hosp-1", "/v1/query", kQuery);
  ASSERT_TRUE(hospital);
  EXPECT_EQ(hospital->status, 403);
  EXPECT_THAT(hospital->body, HasSubstr("PERMISSION_DENIED"));

  auto garbage = Post("health-commission", "/v1/query", R"({"measure":"ENCOUNTERS","zz":"110101199003077777"})");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 400);
  EXPECT_THAT(garbage->body, Not(HasSubstr("110101199003077777")));

  auto invalid = Post("health-commission", "/v1/query", R"({"measure":"ENCOUNTERS"})");
  ASSERT_TRUE(invalid);
  EXPECT_EQ(invalid->status, 400);
  EXPECT_THAT(invalid->body, HasSubstr("from_date"));

  auto huge = Post("health-commission", "/v1/query", std::string(1 << 20, ' '));
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);

  // Another CA's certificate, a revoked or expired one, or none, never
  // completes the handshake.
  EXPECT_FALSE(Post("rogue-client", "/v1/query", kQuery));
  EXPECT_FALSE(Post("revoked-client", "/v1/query", kQuery));
  EXPECT_FALSE(Post("expired-client", "/v1/query", kQuery));
  httplib::SSLClient anonymous("localhost", api_.port());
  anonymous.enable_server_certificate_verification(false);
  EXPECT_FALSE(anonymous.Post("/v1/query", kQuery, "application/json"));
}

}  // namespace
}  // namespace meridian::analytics
