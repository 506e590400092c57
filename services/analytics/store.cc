#include "services/analytics/store.h"

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

const char* PeriodExpression(v1::Period p) {
  switch (p) {
    case v1::DAY:
      return "to_char(day, 'YYYY-MM-DD')";
    case v1::WEEK:
      return "to_char(date_trunc('week', day), 'YYYY-MM-DD')";
    case v1::MONTH:
      return "to_char(day, 'YYYY-MM')";
    default:
      return "''";
  }
}

}  // namespace

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
        pg::ExecPrepared(tx, "analytics_patient",
                         "INSERT INTO patient (pseudonym, sex, age_band) VALUES ($1, $2, $3)"
                         " ON CONFLICT (pseudonym) DO UPDATE SET sex = EXCLUDED.sex,"
                         " age_band = EXCLUDED.age_band",
                         x.patient, profile.sex, profile.age_band);
      }
    } else if (!x.patient.empty() && !x.facts.empty()) {
      pqxx::result r = pg::ExecPrepared(
          tx, "analytics_profile", "SELECT sex, age_band FROM patient WHERE pseudonym = $1",
          x.patient);
      if (!r.empty()) profile = {r[0][0].as<std::string>(), r[0][1].as<std::string>()};
    }
    for (const Fact& f : x.facts) {
      pg::ExecPrepared(
          tx, "analytics_fact",
          "INSERT INTO fact (measure, day, institution, district, institution_type, age_band,"
          " sex, code, code_group, flag, n) VALUES ($1, $2::date, $3, $4, $5, $6, $7, $8, $9,"
          " $10, $11) ON CONFLICT (measure, day, institution, age_band, sex, code, flag)"
          " DO UPDATE SET n = fact.n + EXCLUDED.n",
          static_cast<int>(f.measure), absl::FormatCivilTime(f.day), f.institution,
          f.district, f.institution_type, profile.age_band, profile.sex, f.code,
          f.code_group, f.flag, f.delta);
    }
    return true;
  });
}

absl::StatusOr<std::vector<CellCount>> PgAnalyticsStore::Count(const CountQuery& q) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<CellCount>> {
    std::string select = absl::StrCat("SELECT ", PeriodExpression(q.period));
    std::string where = "WHERE measure = $1 AND day BETWEEN $2::date AND $3::date";
    for (v1::Dimension d : q.group_by) {
      const char* column = Column(d);
      if (column == nullptr) return absl::InvalidArgumentError("group_by: unknown dimension");
      absl::StrAppend(&select, ", ", column);
    }
    for (const auto& [d, values] : q.filters) {
      const char* column = Column(d);
      if (column == nullptr) return absl::InvalidArgumentError("filters: unknown dimension");
      absl::StrAppend(&where, " AND ", column, " = ANY(", tx.quote(pg::TextArray(values)),
                      "::text[])");
    }
    std::string group = "1";
    for (size_t i = 0; i < q.group_by.size(); ++i) absl::StrAppend(&group, ", ", i + 2);
    const std::string sql = absl::StrCat(select, ", sum(n)::bigint FROM fact ", where,
                                         " GROUP BY ", group, " HAVING sum(n) > 0 ORDER BY ", group);
    std::vector<CellCount> cells;
    for (const auto& row : tx.exec_params(sql, static_cast<int>(q.measure),
                                          absl::FormatCivilTime(q.from),
                                          absl::FormatCivilTime(q.to))) {
      CellCount c;
      const size_t width = q.group_by.size() + 1;
      for (size_t i = 0; i < width; ++i) c.keys.push_back(row[static_cast<int>(i)].c_str());
      c.count = row[static_cast<int>(width)].as<int64_t>();
      cells.push_back(std::move(c));
    }
    return cells;
  });
}

}  // namespace meridian::analytics
