#include "services/patient-index/in_memory_patient_store.h"

#include "absl/strings/str_cat.h"
#include "libs/ids/uuid.h"
#include "libs/status/status_macros.h"

namespace meridian::patient {
namespace {

std::vector<StoredRecord> CandidatesIn(const InMemoryPatientStore::State& s,
                                       const MatchRecord& r, int per_key,
                                       int total) {
  // Rebuilt per call: this store is for tests, not for speed.
  BlockIndex index;
  std::vector<const StoredRecord*> by_position;
  for (const auto& [id, rec] : s.records) {
    index.Add(static_cast<int>(by_position.size()), rec.match);
    by_position.push_back(&rec);
  }
  std::vector<StoredRecord> out;
  for (int p : index.Candidates(r, per_key, total)) out.push_back(*by_position[p]);
  return out;
}

class Unit : public PatientUnit {
 public:
  Unit(InMemoryPatientStore::State* s, const InMemoryPatientStore::SaveHook& hook)
      : s_(s), save_hook_(hook) {}

  absl::Status LockKeys(const std::vector<std::string>&) override {
    return absl::OkStatus();  // Run() already holds the store's mutex
  }
  absl::StatusOr<std::optional<StoredRecord>> FindSource(
      const std::string& org, const std::string& local) override {
    auto it = s_->by_source.find({org, local});
    if (it == s_->by_source.end()) return std::nullopt;
    return s_->records.at(it->second);
  }
  absl::StatusOr<std::vector<StoredRecord>> Candidates(const MatchRecord& r,
                                                       int per_key,
                                                       int total) override {
    return CandidatesIn(*s_, r, per_key, total);
  }
  absl::Status SaveSources(const std::vector<StoredRecord*>& records) override {
    if (save_hook_) MERIDIAN_RETURN_IF_ERROR(save_hook_(records));
    return PatientUnit::SaveSources(records);
  }
  absl::Status SaveSource(StoredRecord& record) override {
    if (record.id == 0) record.id = s_->next_id++;
    record.match.id = record.id;
    s_->records[record.id] = record;
    s_->by_source[{record.organisation_id, record.local_id}] = record.id;
    return absl::OkStatus();
  }
  absl::Status CreateIdentity(const std::string& regional_id) override {
    s_->identities[regional_id] = "";
    return absl::OkStatus();
  }
  absl::Status CreateReviewTask(const ReviewTaskRow& task) override {
    for (const ReviewTaskRow& t : s_->tasks) {
      if (t.record_id == task.record_id && t.candidate_id == task.candidate_id &&
          !s_->closed_tasks.contains(t.id)) {
        return absl::AlreadyExistsError("review task already open for this pair");
      }
    }
    ++s_->review_tasks;
    ReviewTaskRow row = task;
    row.created_at = static_cast<int64_t>(s_->tasks.size());
    s_->tasks.push_back(row);
    return absl::OkStatus();
  }
  absl::Status KeepApart(int64_t a, int64_t b) override {
    s_->kept_apart.insert({std::min(a, b), std::max(a, b)});
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<int64_t>> KeptApartFrom(int64_t id) override {
    std::vector<int64_t> out;
    for (const auto& [a, b] : s_->kept_apart) {
      if (a == id) out.push_back(b);
      if (b == id) out.push_back(a);
    }
    return out;
  }
  absl::StatusOr<ReviewTaskRow> TakeOpenReviewTask(const std::string& id) override {
    for (const ReviewTaskRow& t : s_->tasks) {
      if (t.id == id && !s_->closed_tasks.contains(id)) return t;
    }
    return absl::NotFoundError("review_task_id: no open review task");
  }
  absl::StatusOr<StoredRecord> RecordById(int64_t id) override {
    auto it = s_->records.find(id);
    if (it == s_->records.end()) return absl::NotFoundError("no such record");
    return it->second;
  }
  absl::Status SupersedeReviewTasks(int64_t record_id) override {
    for (const ReviewTaskRow& t : s_->tasks) {
      if (t.record_id == record_id) s_->closed_tasks.insert(t.id);
    }
    return absl::OkStatus();
  }
  absl::Status CloseReviewTask(const std::string& id, const std::string&,
                               const std::string&, const std::string&) override {
    s_->closed_tasks.insert(id);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<StoredRecord>> LockRecordsOf(
      const std::string& regional_id) override {
    std::vector<StoredRecord> out;
    for (const auto& [id, r] : s_->records) {
      if (r.regional_id == regional_id) out.push_back(r);
    }
    return out;
  }
  absl::StatusOr<std::string> LockIdentity(const std::string& regional_id) override {
    auto it = s_->identities.find(regional_id);
    if (it == s_->identities.end()) return absl::NotFoundError("no such identity");
    return it->second;
  }
  absl::Status SetMergedInto(const std::string& regional_id,
                             const std::string& into) override {
    s_->identities[regional_id] = into;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> RecordMerge(const MergeRow& merge, const std::string&,
                                          const std::string&) override {
    MergeRow row = merge;
    row.id = ids::NewUuid();
    s_->merges[row.id] = row;
    return row.id;
  }
  absl::StatusOr<MergeRow> TakeMerge(const std::string& merge_id) override {
    auto it = s_->merges.find(merge_id);
    if (it == s_->merges.end()) {
      return absl::NotFoundError("merge_id: no merge to undo");
    }
    return it->second;
  }
  absl::Status MarkUnmerged(const std::string& merge_id, const std::string&,
                            const std::string&) override {
    s_->merges.erase(merge_id);
    return absl::OkStatus();
  }
  absl::Status Emit(const outbox::EventHeader& header,
                    const google::protobuf::Message& payload) override {
    s_->events.push_back(
        {header, payload.GetTypeName(), payload.SerializeAsString()});
    return absl::OkStatus();
  }

 private:
  InMemoryPatientStore::State* s_;
  const InMemoryPatientStore::SaveHook& save_hook_;
};

}  // namespace

absl::Status InMemoryPatientStore::Run(
    const std::function<absl::Status(PatientUnit&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  State copy = state_;
  Unit unit(&copy, save_hook_);
  absl::Status s = fn(unit);
  if (s.ok()) state_ = std::move(copy);
  return s;
}

absl::StatusOr<std::optional<StoredRecord>> InMemoryPatientStore::FindSource(
    const std::string& org, const std::string& local) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_.by_source.find({org, local});
  if (it == state_.by_source.end()) return std::nullopt;
  return state_.records.at(it->second);
}

absl::StatusOr<std::vector<StoredRecord>> InMemoryPatientStore::RecordsOf(
    const std::string& regional_id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StoredRecord> out;
  for (const auto& [id, r] : state_.records) {
    if (r.regional_id == regional_id) out.push_back(r);
  }
  return out;
}

absl::StatusOr<std::vector<StoredRecord>> InMemoryPatientStore::Candidates(
    const MatchRecord& r, int per_key, int total) {
  std::lock_guard<std::mutex> lock(mu_);
  return CandidatesIn(state_, r, per_key, total);
}

absl::StatusOr<std::vector<ReviewTaskRow>> InMemoryPatientStore::OpenReviewTasks(
    const std::string& after_id, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ReviewTaskRow> out;
  bool started = after_id.empty();
  for (const ReviewTaskRow& t : state_.tasks) {
    if (!started) {
      started = t.id == after_id;
      continue;
    }
    if (state_.closed_tasks.contains(t.id)) continue;
    if (static_cast<int>(out.size()) >= limit) break;
    out.push_back(t);
  }
  return out;
}

absl::StatusOr<StoredRecord> InMemoryPatientStore::RecordById(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_.records.find(id);
  if (it == state_.records.end()) return absl::NotFoundError("no such record");
  return it->second;
}

absl::StatusOr<std::string> InMemoryPatientStore::ResolveIdentity(
    const std::string& regional_id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string id = regional_id;
  for (int hops = 0; hops < 100; ++hops) {
    auto it = state_.identities.find(id);
    if (it == state_.identities.end()) return absl::NotFoundError("regional_id: no such patient");
    if (it->second.empty()) return id;
    id = it->second;
  }
  return absl::InternalError("merge chain too long");
}

std::vector<EmittedEvent> InMemoryPatientStore::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.events;
}

int InMemoryPatientStore::review_tasks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.review_tasks;
}

}  // namespace meridian::patient
