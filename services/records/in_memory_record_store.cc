#include "services/records/in_memory_record_store.h"

#include <algorithm>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/status/status_macros.h"

namespace meridian::records {
namespace {

bool Contains(const std::vector<Kind>& kinds, Kind k) {
  return std::find(kinds.begin(), kinds.end(), k) != kinds.end();
}

// The order of a patient's record: clinical time, institution, kind, local
// ID, all descending.
auto SortKey(const RecordRow& r) {
  return std::make_tuple(r.clinical_time, r.organisation_id,
                         static_cast<int16_t>(r.kind), r.local_id);
}

}  // namespace

absl::StatusOr<std::vector<WriteResult>> InMemoryRecordStore::Write(
    const std::vector<WriteRequest>& requests, const EventFor& event_for) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  std::set<Key> keys;
  for (const WriteRequest& r : requests) {
    if (!keys.insert(KeyOf(r.row.key())).second) {
      return absl::InvalidArgumentError("records written together must have distinct keys");
    }
  }
  // Decide everything first: all or nothing.
  std::vector<WriteResult> results;
  std::vector<outbox::PendingEvent> events;
  for (const WriteRequest& r : requests) {
    auto it = records_.find(KeyOf(r.row.key()));
    const StoredRecord* current =
        it == records_.end() ? nullptr : &it->second.back();
    const int64_t version = current == nullptr ? 0 : current->version;
    if (r.if_version.has_value() && *r.if_version != version) {
      return absl::AbortedError("the record changed since it was read");
    }
    WriteResult result;
    if (current == nullptr) {
      result = {v1::CREATED, 1};
    } else if (current->row.body == r.row.body) {
      result = {v1::UNCHANGED, version};
    } else {
      result = {v1::UPDATED, version + 1};
    }
    if (result.outcome != v1::UNCHANGED && event_for) {
      MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, event_for(r, result));
      events.push_back(std::move(e));
    }
    results.push_back(result);
  }
  const absl::Time now = absl::Now();
  for (size_t i = 0; i < requests.size(); ++i) {
    if (results[i].outcome == v1::UNCHANGED) continue;
    records_[KeyOf(requests[i].row.key())].push_back(
        {requests[i].row, results[i].version, now});
  }
  for (auto& e : events) events_.push_back(std::move(e));
  return results;
}

absl::StatusOr<std::optional<StoredRecord>> InMemoryRecordStore::Get(const RecordKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  auto it = records_.find(KeyOf(key));
  if (it == records_.end()) return std::optional<StoredRecord>();
  return std::optional<StoredRecord>(it->second.back());
}

absl::StatusOr<std::vector<StoredRecord>> InMemoryRecordStore::History(const RecordKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  auto it = records_.find(KeyOf(key));
  if (it == records_.end()) return std::vector<StoredRecord>{};
  return it->second;
}

absl::StatusOr<std::vector<StoredRecord>> InMemoryRecordStore::Query(
    const RecordQuery& q, const AuditFor& audit_for) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  absl::flat_hash_set<xref::LocalId> patients(q.patients.begin(), q.patients.end());
  std::vector<StoredRecord> found;
  for (const auto& [key, versions] : records_) {
    const StoredRecord& cur = versions.back();
    const RecordRow& r = cur.row;
    if (!patients.contains(xref::LocalId{r.organisation_id, r.patient_local_id})) continue;
    if (r.entered_in_error) continue;
    if (r.clinical_time < q.from || r.clinical_time >= q.to) continue;
    const bool own = r.organisation_id == q.caller_organisation ||
                     r.counterpart_organisation == q.caller_organisation;
    if (!(own && Contains(q.own_kinds, r.kind)) && !Contains(q.shared_kinds, r.kind)) {
      continue;
    }
    if (q.after.has_value()) {
      RecordRow at;
      at.clinical_time = q.after->clinical_time;
      at.organisation_id = q.after->organisation_id;
      at.kind = q.after->kind;
      at.local_id = q.after->local_id;
      if (!(SortKey(r) < SortKey(at))) continue;
    }
    found.push_back(cur);
  }
  std::sort(found.begin(), found.end(), [](const StoredRecord& a, const StoredRecord& b) {
    return SortKey(a.row) > SortKey(b.row);
  });
  if (found.size() > static_cast<size_t>(q.limit)) found.resize(q.limit);
  if (audit_for) {
    MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, audit_for(found));
    events_.push_back(std::move(e));
  }
  return found;
}

void InMemoryRecordStore::FailWith(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_with_ = std::move(status);
}

std::vector<outbox::PendingEvent> InMemoryRecordStore::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

}  // namespace meridian::records
