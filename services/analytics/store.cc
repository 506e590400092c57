#include "services/analytics/store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/sql.h"

namespace meridian::analytics {

// Generated from migrations/ (meridian_sql_migrations).
const std::vector<pg::Migration>& Migrations();

namespace {


constexpr char kConsumer[] = "analytics";

// The fact column of a dimension; never user text.
const char* Column(v1::Dimension d) {
  switch (d) {
    case v1::DISTRICT:
      return "district";
    case v1::INSTITUTION:
      return "institution";
    case v1::INSTITUTION_TYPE:
      return "institution_type";
    case v1::AGE_BAND:
      return "age_band";
    case v1::SEX:
      return "sex";
    case v1::CODE_GROUP:
      return "code_group";
    case v1::CODE:
      return "code";
    case v1::FLAG:
      return "flag";
    default:
      return nullptr;
  }
}

// The period a row falls in, as a date (grouped on, cheap), and how that
// date is printed (once per group, not per row).
const char* PeriodDate(v1::Period p, bool monthly) {
  switch (p) {
    case v1::DAY:
      return "day";
    case v1::WEEK:  // the Monday on or before: integer arithmetic (2001-01-01 was one)
      return "day - (((day - DATE '2001-01-01') % 7 + 7) % 7)";
    case v1::MONTH:  // timestamp, not timestamptz: no time zone lookups per row
      return monthly ? "day" : "date_trunc('month', day::timestamp)::date";
    default:
      return "NULL::date";
  }
}

const char* PeriodFormat(v1::Period p) {
  switch (p) {
    case v1::DAY:
    case v1::WEEK:
      return "to_char(p, 'YYYY-MM-DD')";
    case v1::MONTH:
      return "to_char(p, 'YYYY-MM')";
    default:
      return "''";
  }
}

std::string ValueOf(v1::Dimension d, const Fact& f, const Profile& p) {
  switch (d) {
    case v1::DISTRICT:
      return f.district;
    case v1::INSTITUTION:
      return f.institution;
    case v1::INSTITUTION_TYPE:
      return f.institution_type;
    case v1::AGE_BAND:
      return p.age_band;
    case v1::SEX:
      return p.sex;
    case v1::CODE_GROUP:
      return f.code_group;
    case v1::CODE:
      return f.code;
    case v1::FLAG:
      return f.flag;
    default:
      return "";
  }
}

// The fact table and its rollups, smallest first. Every table has measure,
// day (a month's first day in monthly ones), its dimension columns and n.
struct Table {
  const char* name;
  bool monthly;
  std::vector<v1::Dimension> dimensions;
};

const std::vector<Table>& Tables() {
  static const auto* tables = new std::vector<Table>{
      {"fact_month_institution", true,
       {v1::INSTITUTION, v1::DISTRICT, v1::INSTITUTION_TYPE, v1::FLAG}},
      {"fact_month_person_region", true, {v1::AGE_BAND, v1::SEX, v1::FLAG}},
      {"fact_month_code_region", true, {v1::CODE, v1::CODE_GROUP, v1::FLAG}},
      {"fact_day_institution", false,
       {v1::INSTITUTION, v1::DISTRICT, v1::INSTITUTION_TYPE, v1::FLAG}},
      {"fact_month_person", true,
       {v1::INSTITUTION, v1::DISTRICT, v1::INSTITUTION_TYPE, v1::AGE_BAND, v1::SEX, v1::FLAG}},
      {"fact_month_code_person", true,
       {v1::AGE_BAND, v1::SEX, v1::CODE, v1::CODE_GROUP, v1::FLAG}},
      {"fact_month_code", true,
       {v1::INSTITUTION, v1::DISTRICT, v1::INSTITUTION_TYPE, v1::CODE, v1::CODE_GROUP, v1::FLAG}},
      {"fact", false,
       {v1::INSTITUTION, v1::DISTRICT, v1::INSTITUTION_TYPE, v1::AGE_BAND, v1::SEX, v1::CODE,
        v1::CODE_GROUP, v1::FLAG}},
  };
  return *tables;
}

std::string ColumnList(const Table& t) {
  std::string out;
  for (v1::Dimension d : t.dimensions) absl::StrAppend(&out, ", ", Column(d));
  return out;
}

// The table a query is answered from: the first with all its dimensions and,
// for a monthly one, a period of months (or all) over whole months.
const Table& TableFor(const CountQuery& q) {
  std::vector<v1::Dimension> used = q.group_by;
  for (const auto& [d, unused] : q.filters) used.push_back(d);
  const bool whole_months = (q.period == v1::ALL || q.period == v1::MONTH) &&
                            q.from.day() == 1 && absl::CivilMonth(q.to + 1) != absl::CivilMonth(q.to);
  for (const Table& t : Tables()) {
    if (t.monthly && !whole_months) continue;
    if (std::all_of(used.begin(), used.end(), [&](v1::Dimension d) {
          return std::find(t.dimensions.begin(), t.dimensions.end(), d) != t.dimensions.end();
        })) {
      return t;
    }
  }
  return Tables().back();
}

}  // namespace

const char* TableUsedFor(const CountQuery& query) { return TableFor(query).name; }

absl::Status RebuildRollups(pqxx::work& tx) {
  for (const Table& t : Tables()) {
    if (std::string(t.name) == "fact") continue;
    const std::string columns = ColumnList(t);
    const std::string day = t.monthly ? "date_trunc('month', day)::date" : "day";
    tx.exec(absl::StrCat("TRUNCATE ", t.name));
    tx.exec(absl::StrCat("INSERT INTO ", t.name, " (measure, day", columns, ", n) SELECT measure, ",
                         day, columns, ", sum(n) FROM fact GROUP BY measure, ", day, columns));
  }
  return absl::OkStatus();
}

absl::Status PgAnalyticsStore::RunMaintenance() {
  return pool_->Transact([](pqxx::work& tx) -> absl::Status {
    pqxx::result due = tx.exec(
        "SELECT 1 FROM maintenance WHERE task = 'rebuild_rollups' FOR UPDATE");
    if (due.empty()) return absl::OkStatus();
    absl::Status rebuilt = RebuildRollups(tx);
    if (!rebuilt.ok()) return rebuilt;
    tx.exec("DELETE FROM maintenance WHERE task = 'rebuild_rollups'");
    return absl::OkStatus();
  });
}

pg::MigrationSet MigrationSet() { return {"analytics", &Migrations()}; }

absl::StatusOr<bool> PgAnalyticsStore::Apply(const std::string& event_id,
                                            const Extracted& x) {
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<bool> {
    absl::StatusOr<bool> fresh = outbox::MarkProcessed(tx, kConsumer, event_id);
    if (!fresh.ok() || !*fresh) return fresh;
    Profile profile{"unknown", "unknown"};
    if (x.profile.has_value()) {
      profile = *x.profile;
      if (!x.patient.empty()) {
        // An event that does not know an attribute ("unknown") keeps the
        // one a registration gave; the counts use the merged profile.
        pqxx::result merged = pg::ExecPrepared(
            tx, "analytics_patient",
            "INSERT INTO patient (pseudonym, sex, age_band, first_day)"
            " VALUES ($1, $2, $3, $4::date) ON CONFLICT (pseudonym) DO UPDATE SET"
            " sex = CASE WHEN EXCLUDED.sex = 'unknown' THEN patient.sex ELSE EXCLUDED.sex END,"
            " age_band = CASE WHEN EXCLUDED.age_band = 'unknown' THEN patient.age_band"
            " ELSE EXCLUDED.age_band END,"
            " first_day = LEAST(patient.first_day, EXCLUDED.first_day) RETURNING sex, age_band",
            x.patient, profile.sex, profile.age_band, absl::FormatCivilTime(x.day));
        profile = {merged[0][0].as<std::string>(), merged[0][1].as<std::string>()};
      }
    } else if (!x.patient.empty() && !x.facts.empty()) {
      pqxx::result r = pg::ExecPrepared(
          tx, "analytics_profile", "SELECT sex, age_band FROM patient WHERE pseudonym = $1",
          x.patient);
      if (!r.empty()) profile = {r[0][0].as<std::string>(), r[0][1].as<std::string>()};
    }
    for (const Table& t : Tables()) {
      std::string values = "$1, $2::date";
      for (size_t i = 0; i < t.dimensions.size(); ++i) absl::StrAppend(&values, ", $", i + 3);
      const std::string sql = absl::StrCat(
          "INSERT INTO ", t.name, " (measure, day", ColumnList(t), ", n) VALUES (", values, ", $",
          t.dimensions.size() + 3, ") ON CONFLICT (measure, day", ColumnList(t),
          ") DO UPDATE SET n = ", t.name, ".n + EXCLUDED.n");
      tx.conn().prepare(absl::StrCat("analytics_", t.name), sql);
      for (const Fact& f : x.facts) {
        const absl::CivilDay day = t.monthly ? absl::CivilDay(absl::CivilMonth(f.day)) : f.day;
        std::vector<std::string> params = {absl::StrCat(static_cast<int>(f.measure)),
                                           absl::FormatCivilTime(day)};
        for (v1::Dimension d : t.dimensions) params.push_back(ValueOf(d, f, profile));
        params.push_back(absl::StrCat(f.delta));
        tx.exec_prepared(absl::StrCat("analytics_", t.name),
                         pqxx::prepare::make_dynamic_params(params));
      }
    }
    if (!x.patient.empty()) {
      for (const Fact& f : x.facts) {
        if (f.measure != v1::DIAGNOSES || f.delta <= 0) continue;
        const std::string condition = ConditionOf(f.code);
        if (condition.empty()) continue;
        pg::ExecPrepared(tx, "analytics_condition",
                         "INSERT INTO patient_condition (pseudonym, condition, first_day)"
                         " VALUES ($1, $2, $3::date) ON CONFLICT (pseudonym, condition) DO UPDATE"
                         " SET first_day = LEAST(patient_condition.first_day, EXCLUDED.first_day)",
                         x.patient, condition, absl::FormatCivilTime(f.day));
      }
    }
    return true;
  });
}

absl::StatusOr<std::vector<Prevalence>> PgAnalyticsStore::CountPatients(
    const std::string& condition, v1::Dimension group_by, absl::CivilDay as_of) {
  const char* key = group_by == v1::AGE_BAND ? "p.age_band"
                    : group_by == v1::SEX    ? "p.sex"
                                             : "''";
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<Prevalence>> {
    std::vector<Prevalence> out;
    for (const auto& row : tx.exec_params(
             absl::StrCat("SELECT ", key, ", count(*), count(c.pseudonym) FROM patient p"
                          " LEFT JOIN patient_condition c ON c.pseudonym = p.pseudonym"
                          " AND c.condition = $1 AND c.first_day <= $2::date"
                          " WHERE p.first_day <= $2::date GROUP BY 1 ORDER BY 1"),
             condition, absl::FormatCivilTime(as_of))) {
      out.push_back({row[0].c_str(), row[1].as<int64_t>(), row[2].as<int64_t>()});
    }
    return out;
  });
}

absl::StatusOr<std::vector<CellCount>> PgAnalyticsStore::Count(const CountQuery& q) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<CellCount>> {
    const Table& table = TableFor(q);
    std::string inner = absl::StrCat("SELECT ", PeriodDate(q.period, table.monthly), " AS p");
    std::string outer = absl::StrCat("SELECT ", PeriodFormat(q.period));
    std::string where = "WHERE measure = $1 AND day BETWEEN $2::date AND $3::date";
    // Coarser groups of grouped keys, for suppression across queries: an
    // institution's district and type, a code's group.
    struct Extra {
      size_t position;
      const char* column;
    };
    std::vector<Extra> extras;
    int columns = 1;
    for (size_t i = 0; i < q.group_by.size(); ++i) {
      const char* column = Column(q.group_by[i]);
      if (column == nullptr) return absl::InvalidArgumentError("group_by: unknown dimension");
      absl::StrAppend(&inner, ", ", column);
      absl::StrAppend(&outer, ", ", column);
      ++columns;
      if (q.group_by[i] == v1::INSTITUTION) {
        extras.push_back({i + 1, "district"});
        extras.push_back({i + 1, "institution_type"});
      } else if (q.group_by[i] == v1::CODE) {
        extras.push_back({i + 1, "code_group"});
      }
    }
    for (size_t j = 0; j < extras.size(); ++j) {
      // min(): one value per group even if the directory moved an
      // institution between districts.
      absl::StrAppend(&inner, ", min(", extras[j].column, ") AS e", j);
      absl::StrAppend(&outer, ", e", j);
    }
    for (const auto& [d, values] : q.filters) {
      const char* column = Column(d);
      if (column == nullptr) return absl::InvalidArgumentError("filters: unknown dimension");
      absl::StrAppend(&where, " AND ", column, " = ANY(", tx.quote(pg::TextArray(values)),
                      "::text[])");
    }
    std::string group = "1";
    for (int i = 2; i <= columns; ++i) absl::StrAppend(&group, ", ", i);
    columns += static_cast<int>(extras.size());
    // Aggregates over tens of thousands of rows finish in milliseconds: JIT
    // compiling them would cost more than it saves.
    tx.exec("SET jit = off");
    const std::string sql = absl::StrCat(
        outer, ", n FROM (", inner, ", sum(n)::bigint AS n FROM ", table.name, " ", where,
        " GROUP BY ", group, " HAVING sum(n) > 0) t ORDER BY ", group);
    std::vector<CellCount> cells;
    const size_t width = q.group_by.size() + 1;
    for (const auto& row : tx.exec_params(sql, static_cast<int>(q.measure),
                                          absl::FormatCivilTime(q.from),
                                          absl::FormatCivilTime(q.to))) {
      CellCount c;
      for (size_t i = 0; i < width; ++i) c.keys.push_back(row[static_cast<int>(i)].c_str());
      for (size_t j = 0; j < extras.size(); ++j) {
        c.parents.push_back({extras[j].position,
                             absl::StrCat(extras[j].column, ":",
                                          row[static_cast<int>(width + j)].c_str())});
      }
      if (q.period == v1::DAY) {  // a day's month and ISO week
        absl::CivilDay day;
        if (absl::ParseCivilTime(c.keys[0], &day)) {
          c.parents.push_back(
              {0, absl::StrCat("month:", absl::FormatCivilTime(absl::CivilMonth(day)))});
          const absl::CivilDay monday = absl::PrevWeekday(day + 1, absl::Weekday::monday);
          c.parents.push_back({0, absl::StrCat("week:", absl::FormatCivilTime(monday))});
        }
      }
      c.count = row[static_cast<int>(columns)].as<int64_t>();
      cells.push_back(std::move(c));
    }
    return cells;
  });
}

}  // namespace meridian::analytics
