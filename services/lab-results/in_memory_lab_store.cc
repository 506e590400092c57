#include "services/lab-results/in_memory_lab_store.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "libs/status/status_macros.h"

namespace meridian::labs {
namespace {

bool Contains(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// The order of a patient's reports: collected_at, institution, local ID, all
// descending.
std::tuple<absl::Time, const std::string&, const std::string&> SortKey(const ReportRow& r) {
  return {r.collected_at, r.organisation_id, r.local_id};
}
std::tuple<absl::Time, const std::string&, const std::string&> SortKey(const Cursor& c) {
  return {c.collected_at, c.organisation_id, c.local_id};
}

bool SameContent(const ReportRow& a, const ReportRow& b) {
  return a.body == b.body && a.patient_organisation_id == b.patient_organisation_id &&
         a.patient_local_id == b.patient_local_id && a.collected_at == b.collected_at &&
         a.loinc_codes == b.loinc_codes;
}

}  // namespace

absl::StatusOr<WriteResult> InMemoryLabStore::Write(const ReportRow& row,
                                                    const EventsFor& events_for) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  if (row.collected_at == absl::InfinitePast() || row.collected_at == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("collected_at: must be finite");
  }
  ReportRow stored = row;
  // PostgreSQL's precision.
  stored.collected_at = absl::FromUnixMicros(absl::ToUnixMicros(row.collected_at));
  const Key key{row.organisation_id, row.local_id};
  WriteResult result{WriteOutcome::kCreated, 1};
  if (auto it = reports_.find(key); it != reports_.end()) {
    const StoredReport& current = it->second.back();
    if (SameContent(current.row, stored)) {
      return WriteResult{WriteOutcome::kUnchanged, current.version};
    }
    result = {WriteOutcome::kUpdated, current.version + 1};
  }
  std::vector<outbox::PendingEvent> events;
  if (events_for) {
    MERIDIAN_ASSIGN_OR_RETURN(events, events_for(result));
  }
  reports_[key].push_back({std::move(stored), result.version, absl::Now()});
  for (auto& e : events) events_.push_back(std::move(e));
  return result;
}

absl::StatusOr<std::optional<StoredReport>> InMemoryLabStore::Get(
    const std::string& organisation_id, const std::string& local_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  auto it = reports_.find({organisation_id, local_id});
  if (it == reports_.end()) return std::optional<StoredReport>();
  return std::optional<StoredReport>(it->second.back());
}

absl::StatusOr<std::vector<StoredReport>> InMemoryLabStore::History(
    const std::string& organisation_id, const std::string& local_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  auto it = reports_.find({organisation_id, local_id});
  if (it == reports_.end()) return std::vector<StoredReport>{};
  return it->second;
}

absl::StatusOr<std::vector<StoredReport>> InMemoryLabStore::Query(
    const ReportQuery& q, const ReadEventsFor& events_for) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  if (q.limit < 0) return absl::InvalidArgumentError("limit: must not be negative");
  const absl::flat_hash_set<xref::LocalId> patients(q.patients.begin(), q.patients.end());
  std::vector<StoredReport> found;
  for (const auto& [key, versions] : reports_) {
    const StoredReport& current = versions.back();
    const ReportRow& r = current.row;
    if (!patients.contains(xref::LocalId{r.patient_organisation_id, r.patient_local_id})) {
      continue;
    }
    if (!q.include_other_institutions && r.organisation_id != q.caller_organisation &&
        r.patient_organisation_id != q.caller_organisation) {
      continue;
    }
    if (!q.loinc_codes.empty() &&
        std::none_of(r.loinc_codes.begin(), r.loinc_codes.end(),
                     [&](const std::string& c) { return Contains(q.loinc_codes, c); })) {
      continue;
    }
    if (!q.performed_by.empty() && !Contains(q.performed_by, r.organisation_id)) continue;
    if (r.collected_at < q.from || r.collected_at >= q.to) continue;
    if (q.after.has_value() && !(SortKey(r) < SortKey(*q.after))) continue;
    found.push_back(current);
  }
  std::sort(found.begin(), found.end(), [](const StoredReport& a, const StoredReport& b) {
    return SortKey(a.row) > SortKey(b.row);
  });
  if (found.size() > static_cast<size_t>(q.limit)) found.resize(q.limit);
  if (events_for) {
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<outbox::PendingEvent> events, events_for(found));
    for (auto& e : events) events_.push_back(std::move(e));
  }
  return found;
}

void InMemoryLabStore::FailWith(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_with_ = std::move(status);
}

std::vector<outbox::PendingEvent> InMemoryLabStore::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

}  // namespace meridian::labs
