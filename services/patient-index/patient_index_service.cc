#include "services/patient-index/patient_index_service.h"

#include "libs/server/auth.h"
#include "libs/status/grpc_status.h"

namespace meridian::patient {
namespace {

using orgs::Role;

// Registering and reading identities is for institutions that treat, dispense
// or test; the platform operator may read for support.
absl::StatusOr<server::Caller> Authorise(const grpc::ServerContext& ctx,
                                         const orgs::Directory& directory,
                                         std::initializer_list<Role> roles) {
  absl::StatusOr<server::Caller> caller = server::CallerOf(ctx, directory);
  if (!caller.ok()) return caller.status();
  absl::Status allowed = server::RequireRole(*caller, roles);
  if (!allowed.ok()) return allowed;
  return caller;
}

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status PatientIndexService::RegisterPatient(
    grpc::ServerContext* ctx, const v1::RegisterPatientRequest* request,
    v1::RegisterPatientResponse* response) {
  auto caller = Authorise(*ctx, *directory_,
                          {Role::kCare, Role::kPharmacy, Role::kLab});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(index_->Register(caller->organisation_id, *request), response);
}

grpc::Status PatientIndexService::RegisterPatients(
    grpc::ServerContext* ctx,
    grpc::ServerReader<v1::RegisterPatientRequest>* reader,
    v1::RegisterPatientsResponse* response) {
  auto caller = Authorise(*ctx, *directory_,
                          {Role::kCare, Role::kPharmacy, Role::kLab});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  v1::RegisterPatientRequest request;
  int index = 0;
  while (reader->Read(&request)) {
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    auto* result = response->add_results();
    result->set_index(index++);
    if (index > kMaxBulkRecords) {
      // Keeps the response within the message limit; nothing stored.
      result->set_code(static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
      result->set_error("at most 50000 records per stream: send the rest in another");
      response->set_failed(response->failed() + 1);
      continue;
    }
    absl::StatusOr<v1::RegisterPatientResponse> r =
        index_->Register(caller->organisation_id, request);
    if (r.ok()) {
      *result->mutable_response() = *std::move(r);
      // Bulk results omit the per-field explanation (it is stored, and
      // RegisterPatient returns it) to stay small.
      result->mutable_response()->clear_fields();
      response->set_succeeded(response->succeeded() + 1);
    } else {
      result->set_code(static_cast<int>(r.status().code()));
      result->set_error(std::string(r.status().message()));
      response->set_failed(response->failed() + 1);
    }
  }
  return grpc::Status::OK;
}

grpc::Status PatientIndexService::GetPatient(
    grpc::ServerContext* ctx, const v1::GetPatientRequest* request,
    v1::GetPatientResponse* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kCare, Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(index_->GetPatient(request->regional_id()), response);
}

grpc::Status PatientIndexService::GetCrossReferences(
    grpc::ServerContext* ctx, const v1::GetCrossReferencesRequest* request,
    v1::GetCrossReferencesResponse* response) {
  auto caller = Authorise(*ctx, *directory_,
                          {Role::kCare, Role::kPharmacy, Role::kLab, Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(index_->GetCrossReferences(caller->organisation_id, *request),
               response);
}

grpc::Status PatientIndexService::SearchPatients(
    grpc::ServerContext* ctx, const v1::SearchPatientsRequest* request,
    v1::SearchPatientsResponse* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kCare, Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(index_->Search(*request), response);
}

grpc::Status PatientIndexService::ListReviewTasks(
    grpc::ServerContext* ctx, const v1::ListReviewTasksRequest* request,
    v1::ListReviewTasksResponse* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(index_->ListReviewTasks(*request), response);
}

grpc::Status PatientIndexService::ResolveReviewTask(
    grpc::ServerContext* ctx, const v1::ResolveReviewTaskRequest* request,
    v1::ResolveReviewTaskResponse* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(index_->ResolveReviewTask(caller->organisation_id, *request),
               response);
}

grpc::Status PatientIndexService::MergePatients(
    grpc::ServerContext* ctx, const v1::MergePatientsRequest* request,
    v1::MergePatientsResponse* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(index_->Merge(caller->organisation_id, *request), response);
}

grpc::Status PatientIndexService::UnmergePatients(
    grpc::ServerContext* ctx, const v1::UnmergePatientsRequest* request,
    v1::UnmergePatientsResponse* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(index_->Unmerge(caller->organisation_id, *request), response);
}

grpc::Status PatientIndexService::UnlinkRecord(
    grpc::ServerContext* ctx, const v1::UnlinkRecordRequest* request,
    v1::UnlinkRecordResponse* response) {
  auto caller = Authorise(*ctx, *directory_, {Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(index_->Unlink(caller->organisation_id, *request), response);
}

}  // namespace meridian::patient
