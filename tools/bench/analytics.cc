// meridian_bench analytics --events=N [--runs=R]
//
// Loads the counts of N synthetic de-identified events (a year of a region:
// 40 institutions in 8 districts, encounters, diagnoses, prescriptions,
// dispensings, lab results, reuses, referrals, registrations; skewed code
// frequencies, 19 age bands, 2 sexes) into a scratch schema's fact table
// with set-based SQL — what the service's consumer would have added one
// event at a time — rebuilds the rollups from it, then times a dashboard's
// queries through the service's own logic (analytics::Analytics over
// PgAnalyticsStore: validation, the SQL, suppression) R times each. Prints
// one JSON object: per query its table, p50 and p95; over all queries p50,
// p95 and p99, against the goal p95 ≤ 50 ms.
#include "tools/bench/commands.h"

#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "libs/pg/sql.h"
#include "services/analytics/analytics.h"
#include "services/analytics/facts.h"
#include "services/analytics/store.h"
#include "tools/bench/stats.h"

namespace meridian::bench {
namespace {

namespace av1 = ::meridian::analytics::v1;

// Common ICD-10 categories, most frequent first (frequencies are skewed by
// the generator, not taken from these positions' real prevalence).
const std::vector<std::string> kIcd10 = {
    "J06", "I10", "E11", "K29", "J20", "M54", "R51", "J18", "N39", "I25", "E78", "K52",
    "A09", "H10", "L30", "M17", "I63", "J45", "F32", "G43", "K80", "N18", "I50", "J44",
    "B34", "R10", "S93", "T14", "Z00", "O80", "C34", "C16", "D64", "E04", "H52", "K35",
    "L23", "M79", "N20", "R05", "R50", "S06", "I48", "E66", "F41", "G47", "H66", "J02",
    "J30", "K21", "K59", "L50", "M25", "N40", "R42", "Z23", "E14", "I67", "C22", "U07"};
const std::vector<std::string> kAtc = {
    "J01CA04", "C09AA02", "A10BA02", "C08CA01", "J01DC02", "N02BE01", "M01AE01", "A02BC01",
    "C10AA05", "R05CB01", "J01FA09", "B01AC06", "R06AE07", "A10AE04", "C07AB02", "J01MA12",
    "N05BA01", "H02AB06", "C03CA01", "A07DA03"};
const std::vector<std::string> kLoinc = {
    "2345-7", "718-7", "2160-0", "2823-3", "2951-2", "4548-4", "2093-3", "1742-6",
    "6690-2", "777-3", "3094-0", "1558-6", "2075-0", "14647-2", "1920-8", "33914-3"};

std::string Literal(pqxx::transaction_base& tx, const std::vector<std::string>& v) {
  return "(" + tx.quote(pg::TextArray(v)) + "::text[])";
}

// Adds `count` synthetic events' counts to fact.
void LoadChunk(pg::Pool& pool, int64_t count, int64_t seed) {
  std::vector<std::string> chapters, atc_groups;
  for (const std::string& c : kIcd10) chapters.push_back(analytics::Icd10Chapter(c));
  for (const std::string& c : kAtc) atc_groups.push_back(c.substr(0, 3));
  absl::Status s = pool.Transact([&](pqxx::work& tx) {
    tx.exec(absl::StrCat("SELECT setseed(", static_cast<double>(seed % 1000) / 1000.0, ")"));
    const std::string icd = Literal(tx, kIcd10), chap = Literal(tx, chapters),
                      atc = Literal(tx, kAtc), atcg = Literal(tx, atc_groups),
                      loinc = Literal(tx, kLoinc);
    const std::string pick = absl::StrCat(
        "CASE WHEN measure IN (1, 2) THEN ", icd, "[1 + floor(", kIcd10.size(), " * r3 ^ 3)::int]",
        " WHEN measure IN (3, 4) THEN ", atc, "[1 + floor(", kAtc.size(), " * r3 ^ 2)::int]",
        " WHEN measure IN (5, 6) THEN ", loinc, "[1 + floor(", kLoinc.size(), " * r3 ^ 2)::int]",
        " WHEN measure = 7 THEN 'inst-' || lpad((floor(r3 * 40))::int::text, 2, '0')",
        " ELSE '' END");
    const std::string group = absl::StrCat(
        "CASE WHEN measure IN (1, 2) THEN ", chap, "[1 + floor(", kIcd10.size(), " * r3 ^ 3)::int]",
        " WHEN measure IN (3, 4) THEN ", atcg, "[1 + floor(", kAtc.size(), " * r3 ^ 2)::int]",
        " WHEN measure IN (5, 6) THEN ", loinc, "[1 + floor(", kLoinc.size(), " * r3 ^ 2)::int]",
        " WHEN measure = 7 THEN (ARRAY['tertiary_hospital', 'secondary_hospital',"
        " 'township_health_centre'])[1 + floor(r3 * 40)::int % 3]",
        " ELSE '' END");
    const std::string flag =
        "CASE measure WHEN 1 THEN (CASE WHEN r4 < 0.8 THEN 'outpatient' WHEN r4 < 0.9 THEN"
        " 'emergency' ELSE 'inpatient' END) WHEN 2 THEN (CASE WHEN r4 < 0.6 THEN 'primary'"
        " ELSE 'secondary' END) WHEN 3 THEN (CASE WHEN r4 < 0.2 THEN 'antibiotic' ELSE"
        " 'other' END) WHEN 4 THEN (CASE WHEN r4 < 0.2 THEN 'antibiotic' ELSE 'other' END)"
        " WHEN 5 THEN (CASE WHEN r4 < 0.8 THEN 'normal' WHEN r4 < 0.97 THEN 'abnormal' ELSE"
        " 'critical' END) WHEN 6 THEN 'reused' WHEN 7 THEN 'requested' ELSE (CASE WHEN r4 <"
        " 0.7 THEN 'new_identity' WHEN r4 < 0.95 THEN 'matched_deterministically' ELSE"
        " 'auto_linked' END) END";
    tx.exec(absl::StrCat(
        "INSERT INTO fact (measure, day, institution, district, institution_type, age_band, sex,"
        " code, code_group, flag, n)"
        " SELECT measure, day, 'inst-' || lpad(inst::text, 2, '0'),"
        " '3301' || lpad((inst % 8 + 1)::text, 2, '0'),"
        " (ARRAY['tertiary_hospital', 'secondary_hospital', 'township_health_centre'])"
        "[1 + inst % 3], age_band, sex, code, code_group, flag, count(*) FROM ("
        "  SELECT measure, day, inst, age_band, sex, ", pick, " AS code, ", group,
        " AS code_group, ", flag, " AS flag FROM ("
        "   SELECT CASE WHEN r1 < 0.35 THEN 1 WHEN r1 < 0.60 THEN 2 WHEN r1 < 0.75 THEN 3"
        "    WHEN r1 < 0.83 THEN 4 WHEN r1 < 0.97 THEN 5 WHEN r1 < 0.98 THEN 6"
        "    WHEN r1 < 0.99 THEN 7 ELSE 9 END AS measure,"
        "    DATE '2026-01-01' + floor(r2 * 365)::int AS day,"
        "    floor(r5 ^ 1.5 * 40)::int AS inst,"
        "    CASE WHEN r6 >= 0.95 THEN '90+' ELSE (floor(r6 * 18) * 5)::int || '-' ||"
        "     ((floor(r6 * 18) * 5)::int + 4) END AS age_band,"
        "    CASE WHEN r7 < 0.5 THEN 'male' ELSE 'female' END AS sex, r3, r4"
        "   FROM (SELECT random() r1, random() r2, random() r3, random() r4, random() r5,"
        "    random() r6, random() r7 FROM generate_series(1, ", count, ")) g) e) x"
        " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
        " ON CONFLICT (measure, day, institution, district, institution_type, age_band, sex, code,"
        " code_group, flag)"
        " DO UPDATE SET n = fact.n + EXCLUDED.n"));
    return absl::OkStatus();
  });
  if (!s.ok()) Die(s);
}

av1::QueryRequest Q(av1::Measure m, std::vector<av1::Dimension> by, av1::Period p,
                    int limit = 0) {
  av1::QueryRequest q;
  q.set_measure(m);
  for (auto d : by) q.add_group_by(d);
  q.set_period(p);
  q.set_from_date("2026-01-01");
  q.set_to_date("2026-12-31");
  q.set_limit(limit);
  return q;
}

av1::IndicatorRequest I(av1::Indicator i, std::vector<av1::Dimension> by, av1::Period p) {
  av1::IndicatorRequest q;
  q.set_indicator(i);
  for (auto d : by) q.add_group_by(d);
  q.set_period(p);
  q.set_from_date("2026-01-01");
  q.set_to_date("2026-12-31");
  return q;
}

}  // namespace

int Analytics(config::Reader& cfg) {
  const std::string uri = cfg.RequiredString("PG_URI");
  const int64_t events = cfg.Int("EVENTS", 1000000, 1000, 100000000);
  const int runs = static_cast<int>(cfg.Int("RUNS", 20, 1, 1000));
  const bool keep = cfg.Bool("KEEP", false);
  cfg.ExitIfInvalid();

  const std::string schema = absl::StrCat("bench_analytics_", getpid());
  pg::Pool pool({.uri = uri, .max_connections = 2, .search_path = schema,
                 .application_name = "meridian-bench"});
  if (auto m = pg::Migrate(pool, schema, {outbox::MigrationSet(), analytics::MigrationSet()});
      !m.ok()) {
    Die(m.status());
  }
  const absl::Time load_start = absl::Now();
  constexpr int64_t kChunk = 1000000;
  for (int64_t done = 0; done < events; done += kChunk) {
    LoadChunk(pool, std::min(kChunk, events - done), done / kChunk + 1);
    std::cerr << "meridian_bench analytics: " << std::min(events, done + kChunk) << " of "
              << events << " events loaded" << std::endl;
  }
  if (absl::Status s = pool.Transact([](pqxx::work& tx) { return analytics::RebuildRollups(tx); });
      !s.ok()) {
    Die(s);
  }
  {
    // Statistics for every table of counts (autovacuum would get there too,
    // later): plans for fresh tables assume they are empty.
    pqxx::connection c(uri);
    pqxx::nontransaction tx(c);
    for (const auto& row : tx.exec_params(
             "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'fact%'",
             schema)) {
      tx.exec(absl::StrCat("VACUUM ANALYZE ", tx.quote_name(schema), ".",
                           tx.quote_name(row[0].as<std::string>())));
    }
  }
  const double load_seconds = absl::ToDoubleSeconds(absl::Now() - load_start);
  auto rows_of = [&](const char* table) {
    auto n = pool.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<int64_t> {
      return tx.exec1(absl::StrCat("SELECT count(*) FROM ", table))[0].as<int64_t>();
    });
    if (!n.ok()) Die(n.status());
    return *n;
  };

  analytics::PgAnalyticsStore store(&pool);
  // Queries do not consult the directory (only counting an event does).
  absl::StatusOr<orgs::Directory> directory = orgs::Directory::FromText(
      R"pb(organisation { id: "health-commission" name: "Health commission"
                          type: HEALTH_AUTHORITY district_code: "330100" })pb");
  if (!directory.ok()) Die(directory.status());
  analytics::Analytics logic(&store, &*directory);

  struct Shape {
    std::string name;
    std::function<absl::Status()> run;
    std::string table;
  };
  std::vector<Shape> shapes;
  auto query = [&](std::string name, av1::QueryRequest q) {
    analytics::CountQuery cq{.measure = q.measure(), .from = absl::CivilDay(2026, 1, 1),
                             .to = absl::CivilDay(2026, 12, 31), .period = q.period()};
    for (int d : q.group_by()) cq.group_by.push_back(static_cast<av1::Dimension>(d));
    for (const auto& f : q.filters()) {
      cq.filters.emplace_back(f.dimension(), std::vector<std::string>(f.values().begin(),
                                                                      f.values().end()));
    }
    shapes.push_back({std::move(name), [&logic, q] { return logic.Query(q).status(); },
                      analytics::TableUsedFor(cq)});
  };
  auto indicator = [&](std::string name, av1::IndicatorRequest q) {
    shapes.push_back({std::move(name), [&logic, q] { return logic.GetIndicator(q).status(); },
                      "rollups"});
  };
  query("encounters_by_month", Q(av1::ENCOUNTERS, {}, av1::MONTH));
  query("encounters_by_day", Q(av1::ENCOUNTERS, {}, av1::DAY));
  query("encounters_by_district", Q(av1::ENCOUNTERS, {av1::DISTRICT}, av1::ALL));
  query("encounters_by_institution_month", Q(av1::ENCOUNTERS, {av1::INSTITUTION}, av1::MONTH));
  query("encounters_by_type_week", Q(av1::ENCOUNTERS, {av1::INSTITUTION_TYPE}, av1::WEEK));
  query("top10_diagnoses", Q(av1::DIAGNOSES, {av1::CODE}, av1::ALL, 10));
  query("diagnoses_by_chapter_month", Q(av1::DIAGNOSES, {av1::CODE_GROUP}, av1::MONTH));
  query("encounters_by_age_sex", Q(av1::ENCOUNTERS, {av1::AGE_BAND, av1::SEX}, av1::ALL));
  query("lab_flags_by_institution", Q(av1::LAB_RESULTS, {av1::INSTITUTION, av1::FLAG}, av1::ALL));
  query("top10_drugs_by_district", Q(av1::PRESCRIPTIONS, {av1::DISTRICT, av1::CODE}, av1::ALL, 10));
  av1::QueryRequest hypertension = Q(av1::ENCOUNTERS, {av1::AGE_BAND, av1::SEX}, av1::ALL);
  av1::Filter* i10 = hypertension.add_filters();
  i10->set_dimension(av1::CODE);
  i10->add_values("I10");
  query("hypertension_by_age_sex", hypertension);
  indicator("prescriptions_per_100_encounters_by_institution",
            I(av1::PRESCRIPTIONS_PER_100_ENCOUNTERS, {av1::INSTITUTION}, av1::ALL));
  indicator("antibiotic_rate_by_district_month",
            I(av1::ANTIBIOTIC_PRESCRIPTION_RATE, {av1::DISTRICT}, av1::MONTH));
  indicator("lab_abnormal_rate_by_institution",
            I(av1::LAB_ABNORMAL_RATE, {av1::INSTITUTION}, av1::ALL));

  for (const Shape& s : shapes) {  // warm the caches and plans once
    if (absl::Status st = s.run(); !st.ok()) Die(absl::StrCat(s.name, ": ", st.ToString()));
  }
  std::vector<double> all_ms;
  std::string per_query;
  for (const Shape& s : shapes) {
    std::vector<double> ms;
    for (int r = 0; r < runs; ++r) {
      const absl::Time start = absl::Now();
      if (absl::Status st = s.run(); !st.ok()) Die(st);
      ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    }
    all_ms.insert(all_ms.end(), ms.begin(), ms.end());
    const double p50 = Median(ms);
    const double p95 = Percentile(ms, 0.95);
    absl::StrAppend(&per_query, per_query.empty() ? "" : ",", "{\"query\":\"", s.name,
                    "\",\"table\":\"", s.table, "\",\"p50_ms\":", p50, ",\"p95_ms\":", p95, "}");
  }
  const int64_t fact_rows = rows_of("fact");
  const int64_t rollup_rows = rows_of("fact_day_institution") + rows_of("fact_month_person") +
                              rows_of("fact_month_code");
  if (!keep) {
    (void)pool.Transact([&](pqxx::work& tx) {
      tx.exec("DROP SCHEMA " + tx.quote_name(schema) + " CASCADE");
      return absl::OkStatus();
    });
  }
  const double p50 = Median(all_ms);
  std::vector<double> copy = all_ms;
  const double p95 = Percentile(copy, 0.95);
  const double p99 = Percentile(copy, 0.99);
  std::cout << "{\"benchmark\":\"analytics\",\"events\":" << events << ",\"runs\":" << runs
            << ",\"fact_rows\":" << fact_rows << ",\"rollup_rows\":" << rollup_rows
            << ",\"load_seconds\":" << load_seconds << ",\"queries\":[" << per_query
            << "],\"p50_ms\":" << p50 << ",\"p95_ms\":" << p95 << ",\"p99_ms\":" << p99
            << ",\"goal_p95_ms\":50}" << std::endl;
  return 0;
}

}  // namespace meridian::bench
