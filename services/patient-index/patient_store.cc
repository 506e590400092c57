#include "services/patient-index/patient_store.h"

#include "libs/status/status_macros.h"

namespace meridian::patient {

absl::StatusOr<std::vector<std::optional<StoredRecord>>> PatientUnit::FindSources(
    const std::vector<std::pair<std::string, std::string>>& sources) {
  std::vector<std::optional<StoredRecord>> out;
  for (const auto& [org, local] : sources) {
    MERIDIAN_ASSIGN_OR_RETURN(std::optional<StoredRecord> r, FindSource(org, local));
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<StoredRecord>>> PatientUnit::CandidatesOfEach(
    const std::vector<const MatchRecord*>& records, int per_key, int total) {
  std::vector<std::vector<StoredRecord>> out;
  for (const MatchRecord* r : records) {
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredRecord> c, Candidates(*r, per_key, total));
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> PatientUnit::LockIdentities(
    const std::vector<std::string>& regional_ids) {
  std::vector<std::string> out;
  for (const std::string& id : regional_ids) {
    MERIDIAN_ASSIGN_OR_RETURN(std::string merged_into, LockIdentity(id));
    out.push_back(std::move(merged_into));
  }
  return out;
}

absl::Status PatientUnit::SaveSources(const std::vector<StoredRecord*>& records) {
  for (StoredRecord* r : records) MERIDIAN_RETURN_IF_ERROR(SaveSource(*r));
  return absl::OkStatus();
}

absl::Status PatientUnit::CreateReviewTasks(const std::vector<ReviewTaskRow>& tasks) {
  for (const ReviewTaskRow& t : tasks) MERIDIAN_RETURN_IF_ERROR(CreateReviewTask(t));
  return absl::OkStatus();
}

}  // namespace meridian::patient
