#include "services/patient-index/in_memory_patient_store.h"

#include "absl/strings/str_cat.h"
#include "libs/ids/uuid.h"

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
  explicit Unit(InMemoryPatientStore::State* s) : s_(s) {}

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
  absl::Status SaveSource(StoredRecord& record) override {
    if (record.id == 0) record.id = s_->next_id++;
    record.match.id = record.id;
    s_->records[record.id] = record;
    s_->by_source[{record.organisation_id, record.local_id}] = record.id;
    return absl::OkStatus();
  }
  absl::Status CreateIdentity(const std::string& regional_id) override {
    s_->identities.insert(regional_id);
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> CountRecordsOf(const std::string& regional_id) override {
    int64_t n = 0;
    for (const auto& [id, r] : s_->records) n += r.regional_id == regional_id;
    return n;
  }
  absl::StatusOr<std::string> CreateReviewTask(int64_t, int64_t, double) override {
    ++s_->review_tasks;
    return ids::NewUuid();
  }
  absl::Status Emit(const outbox::EventHeader& header,
                    const google::protobuf::Message& payload) override {
    s_->events.push_back(
        {header, payload.GetTypeName(), payload.SerializeAsString()});
    return absl::OkStatus();
  }

 private:
  InMemoryPatientStore::State* s_;
};

}  // namespace

absl::Status InMemoryPatientStore::Run(
    const std::function<absl::Status(PatientUnit&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  State copy = state_;
  Unit unit(&copy);
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

std::vector<EmittedEvent> InMemoryPatientStore::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.events;
}

int InMemoryPatientStore::review_tasks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.review_tasks;
}

}  // namespace meridian::patient
