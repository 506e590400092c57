// The analytics service's logic: counts events of the de-identified stream
// and answers aggregate queries with small cells suppressed. Knows nothing
// of gRPC, HTTP or SQL (its store does the SQL).
#ifndef MERIDIAN_SERVICES_ANALYTICS_ANALYTICS_H_
#define MERIDIAN_SERVICES_ANALYTICS_ANALYTICS_H_

#include <atomic>
#include <cstdint>

#include "absl/status/statusor.h"
#include "libs/kafka/kafka.h"
#include "libs/orgs/directory.h"
#include "meridian/analytics/v1/analytics.pb.h"
#include "services/analytics/store.h"

namespace meridian::analytics {

// The de-identified topic: the only one this service reads.
inline constexpr char kDeidTopic[] = "meridian.deid.v1";

struct AnalyticsOptions {
  // Cells counting fewer events are suppressed.
  int k = 5;
};

class Analytics {
 public:
  Analytics(AnalyticsStore* store, const orgs::Directory* directory,
            AnalyticsOptions options = {});

  // One message of the de-identified stream: counted once per event ID
  // (redeliveries are no-ops). INVALID_ARGUMENT for a message that is not a
  // de-identified event (the consumer dead-letters it); store errors are
  // returned for the consumer to retry.
  absl::Status Handle(const kafka::ConsumedMessage& message);

  absl::StatusOr<v1::QueryResponse> Query(const v1::QueryRequest& request);
  absl::StatusOr<v1::IndicatorResponse> GetIndicator(const v1::IndicatorRequest& request);

  int64_t counted() const { return counted_.load(); }
  int64_t duplicates() const { return duplicates_.load(); }

 private:
  // Validated request → store query; INVALID_ARGUMENT naming the field.
  absl::StatusOr<CountQuery> ToCountQuery(v1::Measure measure,
                                          const google::protobuf::RepeatedField<int>& group_by,
                                          const google::protobuf::RepeatedPtrField<v1::Filter>&
                                              filters,
                                          const std::string& from, const std::string& to,
                                          v1::Period period, int max_group_by);
  absl::StatusOr<v1::QueryResponse> Answer(const CountQuery& query, int limit);
  struct Suppressed {
    std::vector<CellCount> cells;
    int64_t total = 0;  // 0 when total_suppressed
    bool total_suppressed = false;
  };
  // The answer's cells and total, suppressed.
  absl::StatusOr<Suppressed> SuppressedCells(const CountQuery& query);
  // A coarse cell (a district, an institution type, an ICD-10 chapter) that
  // holds exactly one suppressed cell of the finer query (its institutions,
  // its codes) would give that cell back: it is suppressed too.
  struct Nested {
    size_t position;     // of the coarse dimension in group_by
    std::string label;   // its cells' parent groups start with this
    CountQuery query;    // the same, grouped by the finer dimension
  };
  static std::vector<Nested> NestedQueries(const CountQuery& query);
  void ProtectNestedCells(const Nested& nested, std::vector<CellCount> fine,
                          std::vector<CellCount>& cells);
  absl::StatusOr<v1::IndicatorResponse> Prevalence(const std::string& condition,
                                                   const v1::IndicatorRequest& request);
  // Institution type name ("tertiary_hospital") of a directory entry, or
  // "unknown".
  std::string TypeOf(const std::string& organisation_id) const;

  AnalyticsStore* store_;
  const orgs::Directory* directory_;
  const AnalyticsOptions options_;
  std::atomic<int64_t> counted_{0};
  std::atomic<int64_t> duplicates_{0};
};

}  // namespace meridian::analytics

#endif  // MERIDIAN_SERVICES_ANALYTICS_ANALYTICS_H_
