#include "services/prescriptions/in_memory_prescription_store.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "libs/status/status_macros.h"
#include "libs/timestamps/timestamps.h"

namespace meridian::prescriptions {
namespace {

// The order of a patient's prescriptions: issued_at, then prescription ID
// (both descending).
std::tuple<absl::Time, std::string> SortKey(const v1::Prescription& p) {
  return {timestamps::FromProto(p.issued_at()), p.prescription_id()};
}

}  // namespace

absl::StatusOr<PrescriptionStore::InsertResult> InMemoryPrescriptionStore::Insert(
    const StoredPrescription& rx, const std::vector<outbox::PendingEvent>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  const v1::Prescription& p = rx.prescription;
  auto local = by_local_.find({p.organisation_id(), p.local_id()});
  if (local != by_local_.end()) return InsertResult{by_id_.at(local->second), false};
  if (by_id_.contains(p.prescription_id())) {
    return absl::AlreadyExistsError("prescription_id: taken by another prescription");
  }
  StoredPrescription& stored = by_id_[p.prescription_id()] = rx;
  stored.version = 1;
  by_local_[{p.organisation_id(), p.local_id()}] = p.prescription_id();
  events_.insert(events_.end(), events.begin(), events.end());
  return InsertResult{stored, true};
}

absl::StatusOr<std::optional<StoredPrescription>> InMemoryPrescriptionStore::Get(
    const std::string& prescription_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  auto it = by_id_.find(prescription_id);
  if (it == by_id_.end()) return std::optional<StoredPrescription>();
  return std::optional<StoredPrescription>(it->second);
}

absl::StatusOr<std::optional<StoredPrescription>> InMemoryPrescriptionStore::FindByLocal(
    const std::string& organisation_id, const std::string& local_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  auto it = by_local_.find({organisation_id, local_id});
  if (it == by_local_.end()) return std::optional<StoredPrescription>();
  return std::optional<StoredPrescription>(by_id_.at(it->second));
}

absl::StatusOr<StoredPrescription> InMemoryPrescriptionStore::Update(
    const std::string& prescription_id, const Mutation& mutate) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  auto it = by_id_.find(prescription_id);
  if (it == by_id_.end()) return absl::NotFoundError("prescription_id: no such prescription");
  const StoredPrescription& current = it->second;
  StoredPrescription rx = current;
  std::vector<outbox::PendingEvent> events;
  MERIDIAN_RETURN_IF_ERROR(mutate(rx, &events));
  const v1::Prescription& p = rx.prescription;
  const v1::Prescription& was = current.prescription;
  if (p.prescription_id() != was.prescription_id() ||
      p.organisation_id() != was.organisation_id() || p.local_id() != was.local_id()) {
    return absl::InvalidArgumentError(
        "an update may not change the prescription ID, institution or local ID");
  }
  if (p.SerializeAsString() == was.SerializeAsString() &&
      rx.verification_code == current.verification_code &&
      rx.request_hash == current.request_hash && rx.active_until == current.active_until) {
    for (auto& e : events) events_.push_back(std::move(e));
    return current;  // unchanged: the row is not written
  }
  rx.version = current.version + 1;
  it->second = rx;
  for (auto& e : events) events_.push_back(std::move(e));
  return rx;
}

absl::StatusOr<std::vector<StoredPrescription>> InMemoryPrescriptionStore::Query(
    const PatientQuery& q, const AuditFor& audit_for) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  absl::flat_hash_set<xref::LocalId> patients(q.patients.begin(), q.patients.end());
  std::vector<StoredPrescription> found;
  for (const auto& [id, rx] : by_id_) {
    const v1::Prescription& p = rx.prescription;
    if (!patients.contains(xref::LocalId{p.organisation_id(), p.patient_local_id()})) continue;
    if (!q.include_other_institutions && p.organisation_id() != q.caller_organisation) continue;
    if (q.active_at.has_value() &&
        (rx.active_until <= *q.active_at || p.status() == v1::CANCELLED)) {
      continue;
    }
    if (q.after.has_value() &&
        !(SortKey(p) < std::make_tuple(q.after->issued_at, q.after->prescription_id))) {
      continue;
    }
    found.push_back(rx);
  }
  std::sort(found.begin(), found.end(),
            [](const StoredPrescription& a, const StoredPrescription& b) {
              return SortKey(a.prescription) > SortKey(b.prescription);
            });
  if (found.size() > static_cast<size_t>(q.limit)) found.resize(q.limit);
  if (audit_for) {
    MERIDIAN_ASSIGN_OR_RETURN(outbox::PendingEvent e, audit_for(found));
    events_.push_back(std::move(e));
  }
  return found;
}

absl::StatusOr<std::vector<std::string>> InMemoryPrescriptionStore::DueToExpire(absl::Time now,
                                                                                int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_with_.ok()) return fail_with_;
  std::vector<std::pair<absl::Time, std::string>> due;
  for (const auto& [id, rx] : by_id_) {
    const v1::PrescriptionStatus s = rx.prescription.status();
    const absl::Time expires_at = timestamps::FromProto(rx.prescription.expires_at());
    if ((s == v1::ISSUED || s == v1::VERIFIED || s == v1::PARTIALLY_DISPENSED) &&
        expires_at <= now) {
      due.emplace_back(expires_at, id);
    }
  }
  std::sort(due.begin(), due.end());
  if (due.size() > static_cast<size_t>(limit)) due.resize(limit);
  std::vector<std::string> out;
  out.reserve(due.size());
  for (auto& [expires_at, id] : due) out.push_back(std::move(id));
  return out;
}

void InMemoryPrescriptionStore::FailWith(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_with_ = std::move(status);
}

std::vector<outbox::PendingEvent> InMemoryPrescriptionStore::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

}  // namespace meridian::prescriptions
