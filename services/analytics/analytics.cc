#include "services/analytics/analytics.h"

#include <algorithm>
#include <future>
#include <map>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/fields/fields.h"
#include "libs/outbox/outbox.h"

namespace meridian::analytics {
namespace {

constexpr int kMaxFilters = 8;
constexpr int kMaxFilterValues = 100;
constexpr int kMaxLimit = 1000;
constexpr int kMaxDays = 3660;

using fields::Invalid;

}  // namespace

Analytics::Analytics(AnalyticsStore* store, const orgs::Directory* directory,
                     AnalyticsOptions options)
    : store_(store), directory_(directory), options_(options) {}

std::string Analytics::TypeOf(const std::string& organisation_id) const {
  const orgs::Organisation* org = directory_->Find(organisation_id);
  if (org == nullptr) return "unknown";
  return absl::AsciiStrToLower(organisations::v1::OrganisationType_Name(org->type()));
}

absl::Status Analytics::Handle(const kafka::ConsumedMessage& message) {
  absl::StatusOr<events::v1::EventEnvelope> env = outbox::ParseEnvelope(message);
  if (!env.ok()) return env.status();
  absl::StatusOr<Extracted> x = Extract(*env);
  if (!x.ok()) return x.status();
  for (Fact& f : x->facts) {
    const orgs::Organisation* org = directory_->Find(f.institution);
    f.district = org != nullptr ? org->district_code() : "unknown";
    f.institution_type = TypeOf(f.institution);
    if (f.measure == v1::REFERRALS) f.code_group = TypeOf(f.code);
    if (f.measure == v1::CROSS_INSTITUTION_READS) f.flag = TypeOf(f.flag);
  }
  absl::StatusOr<bool> applied = store_->Apply(env->event_id(), *x);
  if (!applied.ok()) return applied.status();
  (*applied ? counted_ : duplicates_).fetch_add(1);
  return absl::OkStatus();
}

absl::StatusOr<CountQuery> Analytics::ToCountQuery(
    v1::Measure measure, const google::protobuf::RepeatedField<int>& group_by,
    const google::protobuf::RepeatedPtrField<v1::Filter>& filters, const std::string& from,
    const std::string& to, v1::Period period, int max_group_by) {
  CountQuery q;
  if (measure == v1::MEASURE_UNSPECIFIED || !v1::Measure_IsValid(measure)) {
    return Invalid("measure", "required, one of analytics.v1.Measure");
  }
  q.measure = measure;
  if (group_by.size() > max_group_by) {
    return Invalid("group_by", absl::StrCat("at most ", max_group_by, " dimensions"));
  }
  absl::flat_hash_set<int> seen;
  for (int d : group_by) {
    if (d == v1::DIMENSION_UNSPECIFIED || !v1::Dimension_IsValid(d)) {
      return Invalid("group_by", "unknown dimension");
    }
    if (!seen.insert(d).second) return Invalid("group_by", "a dimension twice");
    q.group_by.push_back(static_cast<v1::Dimension>(d));
  }
  if (filters.size() > kMaxFilters) {
    return Invalid("filters", absl::StrCat("at most ", kMaxFilters));
  }
  absl::flat_hash_set<int> filtered;
  for (const v1::Filter& f : filters) {
    if (f.dimension() == v1::DIMENSION_UNSPECIFIED || !v1::Dimension_IsValid(f.dimension())) {
      return Invalid("filters.dimension", "unknown dimension");
    }
    if (!filtered.insert(f.dimension()).second) {
      return Invalid("filters.dimension", "a dimension twice");
    }
    if (f.values_size() == 0 || f.values_size() > kMaxFilterValues) {
      return Invalid("filters.values", absl::StrCat("1 to ", kMaxFilterValues, " values"));
    }
    std::vector<std::string> values;
    for (const std::string& v : f.values()) {
      // Codes, IDs, bands and flags all have the shape of a local ID.
      if (!fields::IsValidLocalId(v)) {
        return Invalid("filters.values", "1 to 64 printable ASCII characters, no spaces");
      }
      values.push_back(v);
    }
    q.filters.emplace_back(f.dimension(), std::move(values));
  }
  std::optional<absl::CivilDay> from_day = fields::ParseDate(from);
  if (!from_day) return Invalid("from_date", "required, YYYY-MM-DD");
  std::optional<absl::CivilDay> to_day = fields::ParseDate(to);
  if (!to_day) return Invalid("to_date", "required, YYYY-MM-DD");
  if (*to_day < *from_day) return Invalid("to_date", "before from_date");
  // Whole months only: two ranges a day apart would otherwise give that
  // day's count by subtraction, however its own cell is suppressed.
  if (from_day->day() != 1) return Invalid("from_date", "must be the first day of a month");
  if (absl::CivilMonth(*to_day + 1) == absl::CivilMonth(*to_day)) {
    return Invalid("to_date", "must be the last day of a month");
  }
  if (*to_day - *from_day > kMaxDays) return Invalid("to_date", "at most ten years after from_date");
  q.from = *from_day;
  q.to = *to_day;
  if (!v1::Period_IsValid(period)) return Invalid("period", "unknown period");
  q.period = period;
  return q;
}

std::vector<Analytics::Nested> Analytics::NestedQueries(const CountQuery& query) {
  std::vector<Nested> out;
  for (size_t i = 0; i < query.group_by.size(); ++i) {
    const v1::Dimension coarse = query.group_by[i];
    v1::Dimension finer;
    std::string label;
    if (coarse == v1::DISTRICT || coarse == v1::INSTITUTION_TYPE) {
      finer = v1::INSTITUTION;
      label = coarse == v1::DISTRICT ? "district:" : "institution_type:";
    } else if (coarse == v1::CODE_GROUP) {
      finer = v1::CODE;
      label = "code_group:";
    } else {
      continue;
    }
    if (std::find(query.group_by.begin(), query.group_by.end(), finer) != query.group_by.end()) {
      continue;  // both in this query: the cells' parents already make the lines
    }
    CountQuery fine_query = query;
    fine_query.group_by[i] = finer;
    out.push_back({i, std::move(label), std::move(fine_query)});
  }
  return out;
}

void Analytics::ProtectNestedCells(const Nested& nested, std::vector<CellCount> fine,
                                   std::vector<CellCount>& cells) {
  Suppress(fine, options_.k);
  // How many suppressed finer cells each coarse cell holds.
  const size_t i = nested.position;
  std::map<std::vector<std::string>, int> suppressed_inside;
  for (const CellCount& c : fine) {
    if (!c.suppressed) continue;
    for (const ParentKey& parent : c.parents) {
      if (parent.position != i + 1 || !absl::StartsWith(parent.group, nested.label)) continue;
      std::vector<std::string> keys = c.keys;
      keys[i + 1] = parent.group.substr(nested.label.size());
      ++suppressed_inside[keys];
    }
  }
  for (CellCount& c : cells) {
    auto it = suppressed_inside.find(c.keys);
    if (it != suppressed_inside.end() && it->second == 1) c.suppressed = true;
  }
}

absl::StatusOr<Analytics::Suppressed> Analytics::SuppressedCells(const CountQuery& query) {
  // A filter on a dimension the answer is not grouped by sums cells of the
  // table grouped by it; another query can ask for that table, or for the
  // same sum without the filter, and subtract. So the table grouped by the
  // filtered dimensions too, over all their values, is suppressed first, and
  // a sum that takes in any suppressed cell of it is suppressed itself.
  CountQuery full = query;
  std::vector<std::pair<size_t, absl::flat_hash_set<std::string>>> selections;
  full.filters.clear();
  for (const auto& [d, values] : query.filters) {
    if (std::find(query.group_by.begin(), query.group_by.end(), d) != query.group_by.end()) {
      full.filters.emplace_back(d, values);  // selects whole cells: no new sum
      continue;
    }
    full.group_by.push_back(d);
    selections.emplace_back(full.group_by.size(),  // its key position
                            absl::flat_hash_set<std::string>(values.begin(), values.end()));
  }
  // The finer queries that protect nested groups run beside the main one
  // (the store's pool serves them on connections of their own).
  const std::vector<Nested> nested = NestedQueries(full);
  std::vector<std::future<absl::StatusOr<std::vector<CellCount>>>> fine;
  for (const Nested& n : nested) {
    fine.push_back(std::async(std::launch::async, [this, &n] { return store_->Count(n.query); }));
  }
  absl::StatusOr<std::vector<CellCount>> cells = store_->Count(full);
  absl::Status failed = cells.status();
  for (size_t j = 0; j < nested.size(); ++j) {
    absl::StatusOr<std::vector<CellCount>> f = fine[j].get();
    if (!f.ok()) {
      failed.Update(f.status());
      continue;
    }
    if (cells.ok()) ProtectNestedCells(nested[j], *std::move(f), *cells);
  }
  if (!failed.ok()) return failed;
  Suppress(*cells, options_.k);
  int64_t total = 0;
  bool total_has_suppressed = false;
  if (selections.empty()) {
    for (const CellCount& c : *cells) total += c.count;
  } else {
    const size_t width = query.group_by.size() + 1;
    std::map<std::vector<std::string>, CellCount> sums;
    for (const CellCount& c : *cells) {
      if (c.keys.size() != full.group_by.size() + 1) {
        return absl::InternalError("analytics store: a cell with the wrong number of keys");
      }
      bool selected = true;
      for (const auto& [position, values] : selections) selected &= values.contains(c.keys[position]);
      if (!selected) continue;
      std::vector<std::string> keys(c.keys.begin(), c.keys.begin() + width);
      CellCount& sum = sums[keys];
      sum.keys = keys;
      sum.count += c.count;
      sum.suppressed |= c.suppressed;
      total += c.count;
      total_has_suppressed |= c.suppressed;
    }
    std::vector<CellCount> out;
    for (auto& [unused, sum] : sums) out.push_back(std::move(sum));
    *cells = std::move(out);
    // The answer's own lines: the pre-marked sums are kept, complements added.
    Suppress(*cells, options_.k);
  }
  Suppressed out{*std::move(cells), total,
                 total_has_suppressed || (total > 0 && total < options_.k)};
  if (out.total_suppressed) out.total = 0;
  return out;
}

absl::StatusOr<v1::QueryResponse> Analytics::Answer(const CountQuery& query, int limit) {
  absl::StatusOr<Suppressed> answer = SuppressedCells(query);
  if (!answer.ok()) return answer.status();
  std::vector<CellCount>* cells = &answer->cells;
  v1::QueryResponse out;
  out.set_k(options_.k);
  if (answer->total_suppressed) {
    out.set_total_suppressed(true);
  } else {
    out.set_total(answer->total);
  }
  // Per period: largest first, suppressed last, then by keys.
  std::sort(cells->begin(), cells->end(), [](const CellCount& a, const CellCount& b) {
    return std::make_tuple(a.keys[0], a.suppressed, -a.count, std::cref(a.keys)) <
           std::make_tuple(b.keys[0], b.suppressed, -b.count, std::cref(b.keys));
  });
  std::string period;
  int in_period = 0;
  for (const CellCount& c : *cells) {
    if (c.keys[0] != period || out.cells_size() == 0) {
      period = c.keys[0];
      in_period = 0;
    }
    if (limit > 0 && in_period >= limit) continue;
    ++in_period;
    v1::Cell* cell = out.add_cells();
    cell->set_period(c.keys[0]);
    for (size_t i = 1; i < c.keys.size(); ++i) cell->add_keys(c.keys[i]);
    cell->set_suppressed(c.suppressed);
    if (!c.suppressed) cell->set_count(c.count);
  }
  return out;
}

absl::StatusOr<v1::QueryResponse> Analytics::Query(const v1::QueryRequest& request) {
  if (request.limit() < 0 || request.limit() > kMaxLimit) {
    return Invalid("limit", absl::StrCat("0 to ", kMaxLimit));
  }
  absl::StatusOr<CountQuery> q =
      ToCountQuery(request.measure(), request.group_by(), request.filters(),
                   request.from_date(), request.to_date(), request.period(), 2);
  if (!q.ok()) return q.status();
  return Answer(*q, request.limit());
}

absl::StatusOr<v1::IndicatorResponse> Analytics::GetIndicator(
    const v1::IndicatorRequest& request) {
  struct Side {
    v1::Measure measure;
    std::vector<std::string> flags;  // empty: every flag
  };
  Side num, den;
  double scale = 1;
  switch (request.indicator()) {
    case v1::PRESCRIPTIONS_PER_100_ENCOUNTERS:
      num = {v1::PRESCRIPTIONS, {}};
      den = {v1::ENCOUNTERS, {}};
      scale = 100;
      break;
    case v1::ANTIBIOTIC_PRESCRIPTION_RATE:
      num = {v1::PRESCRIPTIONS, {"antibiotic"}};
      den = {v1::PRESCRIPTIONS, {}};
      break;
    case v1::LAB_ABNORMAL_RATE:
      num = {v1::LAB_RESULTS, {"abnormal", "critical"}};
      den = {v1::LAB_RESULTS, {}};
      break;
    case v1::LAB_CRITICAL_RATE:
      num = {v1::LAB_RESULTS, {"critical"}};
      den = {v1::LAB_RESULTS, {}};
      break;
    case v1::LAB_REUSE_RATE:
      num = {v1::LAB_REUSES, {}};
      den = {v1::LAB_RESULTS, {}};
      break;
    case v1::DUPLICATE_IDENTITY_RATE:
      num = {v1::MERGES, {}};
      den = {v1::REGISTRATIONS, {}};
      break;
    case v1::HYPERTENSION_PREVALENCE:
      return Prevalence("hypertension", request);
    case v1::DIABETES_PREVALENCE:
      return Prevalence("diabetes", request);
    default:
      return Invalid("indicator", "required, one of analytics.v1.Indicator");
  }
  for (int d : request.group_by()) {
    if (d == v1::FLAG || d == v1::CODE || d == v1::CODE_GROUP) {
      return Invalid("group_by", "codes and flags differ between an indicator's two counts");
    }
  }
  for (const v1::Filter& f : request.filters()) {
    if (f.dimension() == v1::FLAG || f.dimension() == v1::CODE ||
        f.dimension() == v1::CODE_GROUP) {
      return Invalid("filters", "codes and flags differ between an indicator's two counts");
    }
  }
  auto answer = [&](const Side& side) -> absl::StatusOr<v1::QueryResponse> {
    absl::StatusOr<CountQuery> q =
        ToCountQuery(side.measure, request.group_by(), request.filters(), request.from_date(),
                     request.to_date(), request.period(), 1);
    if (!q.ok()) return q.status();
    if (!side.flags.empty()) q->filters.emplace_back(v1::FLAG, side.flags);
    return Answer(*q, 0);
  };
  absl::StatusOr<v1::QueryResponse> n = answer(num);
  if (!n.ok()) return n.status();
  absl::StatusOr<v1::QueryResponse> d = answer(den);
  if (!d.ok()) return d.status();
  using Key = std::pair<std::string, std::vector<std::string>>;
  std::map<Key, const v1::Cell*> numerators;
  for (const v1::Cell& c : n->cells()) {
    numerators[{c.period(), {c.keys().begin(), c.keys().end()}}] = &c;
  }
  v1::IndicatorResponse out;
  out.set_k(options_.k);
  for (const v1::Cell& c : d->cells()) {  // sorted by period, then size
    v1::Rate* rate = out.add_rates();
    rate->set_period(c.period());
    *rate->mutable_keys() = c.keys();
    auto it = numerators.find({c.period(), {c.keys().begin(), c.keys().end()}});
    const bool suppressed = c.suppressed() || (it != numerators.end() && it->second->suppressed());
    rate->set_suppressed(suppressed);
    if (suppressed) continue;
    const int64_t numerator = it == numerators.end() ? 0 : it->second->count();
    rate->set_numerator(numerator);
    rate->set_denominator(c.count());
    rate->set_value(scale * static_cast<double>(numerator) / static_cast<double>(c.count()));
  }
  return out;
}

absl::StatusOr<v1::IndicatorResponse> Analytics::Prevalence(
    const std::string& condition, const v1::IndicatorRequest& request) {
  if (request.group_by_size() > 1 ||
      (request.group_by_size() == 1 && request.group_by(0) != v1::AGE_BAND &&
       request.group_by(0) != v1::SEX)) {
    return Invalid("group_by", "prevalence is by AGE_BAND or SEX at most");
  }
  if (request.filters_size() > 0) return Invalid("filters", "not available for prevalence");
  if (request.period() != v1::ALL) return Invalid("period", "prevalence is over the range (ALL)");
  std::optional<absl::CivilDay> from = fields::ParseDate(request.from_date());
  if (!from) return Invalid("from_date", "required, YYYY-MM-DD");
  std::optional<absl::CivilDay> to = fields::ParseDate(request.to_date());
  if (!to) return Invalid("to_date", "required, YYYY-MM-DD");
  if (*to < *from) return Invalid("to_date", "before from_date");
  if (absl::CivilMonth(*to + 1) == absl::CivilMonth(*to)) {
    return Invalid("to_date", "must be the last day of a month");
  }
  const v1::Dimension by = request.group_by_size() == 1
                               ? static_cast<v1::Dimension>(request.group_by(0))
                               : v1::DIMENSION_UNSPECIFIED;
  auto counts = store_->CountPatients(condition, by, *to);
  if (!counts.ok()) return counts.status();
  // Numerators and denominators are each suppressed as a table of their own.
  std::vector<CellCount> num, den;
  for (const auto& p : *counts) {
    num.push_back({{"", p.key}, p.with_condition});
    den.push_back({{"", p.key}, p.patients});
  }
  Suppress(num, options_.k);
  Suppress(den, options_.k);
  v1::IndicatorResponse out;
  out.set_k(options_.k);
  for (size_t i = 0; i < counts->size(); ++i) {
    v1::Rate* rate = out.add_rates();
    if (by != v1::DIMENSION_UNSPECIFIED) rate->add_keys((*counts)[i].key);
    const bool suppressed = num[i].suppressed || den[i].suppressed;
    rate->set_suppressed(suppressed);
    if (suppressed) continue;
    rate->set_numerator(num[i].count);
    rate->set_denominator(den[i].count);
    rate->set_value(static_cast<double>(num[i].count) / static_cast<double>(den[i].count));
  }
  return out;
}

}  // namespace meridian::analytics
