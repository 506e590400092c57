// Where the analytics service keeps its counts.
#ifndef MERIDIAN_SERVICES_ANALYTICS_STORE_H_
#define MERIDIAN_SERVICES_ANALYTICS_STORE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "meridian/analytics/v1/analytics.pb.h"
#include "services/analytics/facts.h"
#include "services/analytics/suppression.h"

namespace meridian::analytics {

struct CountQuery {
  v1::Measure measure = v1::MEASURE_UNSPECIFIED;
  std::vector<v1::Dimension> group_by;
  std::vector<std::pair<v1::Dimension, std::vector<std::string>>> filters;
  absl::CivilDay from;
  absl::CivilDay to;  // inclusive
  v1::Period period = v1::ALL;
};

// Known patients and those among them with a condition, per group.
struct Prevalence {
  std::string key;  // the group's value ("" for all)
  int64_t patients = 0;
  int64_t with_condition = 0;
};

class AnalyticsStore {
 public:
  virtual ~AnalyticsStore() = default;

  // Adds one event's facts (and its patient's profile) exactly once per
  // event ID: false, changing nothing, when the event was applied before.
  // Facts without their own age band and sex take the patient's.
  virtual absl::StatusOr<bool> Apply(const std::string& event_id,
                                     const Extracted& extracted) = 0;

  // Sums per period and grouped dimension values (keys[0] the period), not
  // yet suppressed.
  virtual absl::StatusOr<std::vector<CellCount>> Count(const CountQuery& query) = 0;

  // Patients known by a registration (linked to a regional identity), and
  // those of them diagnosed with `condition` on or before `as_of`, per value
  // of `group_by` (AGE_BAND, SEX or unspecified for all).
  virtual absl::StatusOr<std::vector<Prevalence>> CountPatients(const std::string& condition,
                                                                v1::Dimension group_by,
                                                                absl::CivilDay as_of) = 0;
};

class PgAnalyticsStore : public AnalyticsStore {
 public:
  explicit PgAnalyticsStore(pg::Pool* pool) : pool_(pool) {}
  // What migrations asked for (the `maintenance` table): rebuilding the
  // rollups from fact when one was added after counting began. Run at start,
  // before the consumer; replicas starting together do it once.
  absl::Status RunMaintenance();
  absl::StatusOr<bool> Apply(const std::string& event_id, const Extracted& extracted) override;
  absl::StatusOr<std::vector<CellCount>> Count(const CountQuery& query) override;
  absl::StatusOr<std::vector<Prevalence>> CountPatients(const std::string& condition,
                                                        v1::Dimension group_by,
                                                        absl::CivilDay as_of) override;

 private:
  pg::Pool* pool_;
};

pg::MigrationSet MigrationSet();

// The table PgAnalyticsStore answers `query` from: the smallest rollup with
// every dimension it uses (monthly ones only for whole months), else fact.
const char* TableUsedFor(const CountQuery& query);

// Recomputes every rollup from fact (after a bulk load into fact, such as
// the benchmark's; Apply keeps them current otherwise).
absl::Status RebuildRollups(pqxx::work& tx);

}  // namespace meridian::analytics

#endif  // MERIDIAN_SERVICES_ANALYTICS_STORE_H_
