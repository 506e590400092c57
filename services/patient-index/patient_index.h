// The patient index's logic: validates and normalises registrations, matches
// them (linker.h) against candidates from the store, assigns regional
// identities, opens review tasks, emits events, answers reads. Knows nothing
// of gRPC or SQL: it works on the API's protobuf messages and a PatientStore.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_PATIENT_INDEX_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_PATIENT_INDEX_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "meridian/patient/v1/patient_index.pb.h"
#include "services/patient-index/group_commit.h"
#include "services/patient-index/linker.h"
#include "services/patient-index/model.h"
#include "services/patient-index/patient_store.h"

namespace meridian::patient {

inline constexpr char kPatientTopic[] = "meridian.patient.v1";

struct PatientIndexOptions {
  MatchOptions match;
  // Higher ranks win survivorship for the golden record (e.g. a tertiary
  // hospital over a pharmacy). Default: every source equal.
  std::function<int(const std::string& organisation_id)> trust_rank;
  // "YYYYMMDD"; empty means the current UTC date. For tests.
  std::string today;
  // Registrations that arrive together commit together (group_commit.h).
  GroupCommitOptions group_commit;
};

// A registration request checked and normalised, with its match record.
struct Prepared {
  v1::RegisterPatientRequest request;
  MatchRecord match;
};

// Validates a registration. INVALID_ARGUMENT names the field and never quotes
// the value: missing or malformed local_id, names too long or with control
// characters, impossible or future birth date, unknown identifier type, a
// resident ID with a bad structure or check character, or one whose birth
// date or sex contradicts the stated ones.
absl::StatusOr<Prepared> PrepareRegistration(const v1::RegisterPatientRequest& request,
                                             absl::string_view today);

class PatientIndex {
 public:
  // `model` is not owned.
  PatientIndex(PatientStore* store, const Model* model,
               PatientIndexOptions options = {});
  PatientIndex(PatientStore* store, std::shared_ptr<const Model> model,
               PatientIndexOptions options = {});
  ~PatientIndex();

  // Matching uses `model` from the next registration group or search on;
  // work under way finishes with the model it began with.
  void SetModel(std::shared_ptr<const Model> model);
  // SetModel with the current model's weights and `tf`
  // (TermFrequencyRefresher: the registry's term frequencies as it grows).
  void SetTermFrequencies(TermFrequencies tf);

  // Registers a source record (idempotent on organisation + local ID).
  // Concurrent registrations run in groups, one transaction per group; a
  // group that fails is run again one registration at a time.
  absl::StatusOr<v1::RegisterPatientResponse> Register(
      const std::string& organisation_id,
      const v1::RegisterPatientRequest& request);
  // Register of each (a bulk load's chunk), submitted at once so that they
  // share groups; the answers in order. Registrations of one source record
  // run in the order given.
  std::vector<absl::StatusOr<v1::RegisterPatientResponse>> RegisterMany(
      const std::string& organisation_id,
      const std::vector<v1::RegisterPatientRequest>& requests);
  absl::StatusOr<v1::GetPatientResponse> GetPatient(
      const std::string& regional_id);
  absl::StatusOr<v1::GetCrossReferencesResponse> GetCrossReferences(
      const std::string& caller_organisation,
      const v1::GetCrossReferencesRequest& request);
  absl::StatusOr<v1::SearchPatientsResponse> Search(
      const v1::SearchPatientsRequest& request);
  absl::StatusOr<v1::ListReviewTasksResponse> ListReviewTasks(
      const v1::ListReviewTasksRequest& request);
  // LINK moves the task's record into the candidate's identity; KEEP_APART
  // remembers the pair so it is never auto-linked again. Either way the task
  // closes with who decided and why.
  absl::StatusOr<v1::ResolveReviewTaskResponse> ResolveReviewTask(
      const std::string& operator_organisation,
      const v1::ResolveReviewTaskRequest& request);
  // Operator actions on identities, with a reason, kept in history.
  absl::StatusOr<v1::MergePatientsResponse> Merge(
      const std::string& operator_organisation,
      const v1::MergePatientsRequest& request);
  absl::StatusOr<v1::UnmergePatientsResponse> Unmerge(
      const std::string& operator_organisation,
      const v1::UnmergePatientsRequest& request);
  absl::StatusOr<v1::UnlinkRecordResponse> Unlink(
      const std::string& operator_organisation,
      const v1::UnlinkRecordRequest& request);

 private:
  struct Job;

  std::string Today() const;
  std::vector<absl::StatusOr<v1::RegisterPatientResponse>> RegisterAll(
      const std::string& organisation_id,
      const std::vector<const v1::RegisterPatientRequest*>& requests);
  // Runs a group of registrations in one transaction.
  void RunJobs(std::vector<Job*>& jobs);
  absl::Status RegisterTogether(PatientUnit& unit, const std::vector<Job*>& jobs,
                                std::vector<v1::RegisterPatientResponse>& answers);
  v1::GetPatientResponse Golden(const std::string& regional_id,
                                const std::vector<StoredRecord>& records) const;

  std::shared_ptr<const Model> model() const;

  PatientStore* store_;
  mutable absl::Mutex model_mu_;
  std::shared_ptr<const Model> model_ ABSL_GUARDED_BY(model_mu_);
  PatientIndexOptions options_;
  std::unique_ptr<GroupCommit<Job>> commit_;
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_PATIENT_INDEX_H_
