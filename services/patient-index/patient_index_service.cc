#include "services/patient-index/patient_index_service.h"

#include "absl/strings/str_cat.h"
#include "libs/server/auth.h"
#include "libs/server/bulk.h"
#include "libs/status/grpc_status.h"

namespace meridian::patient {
namespace {

using orgs::Role;

// Records registered together from a stream: enough for several full groups.
constexpr size_t kStreamChunk = 256;

}  // namespace

grpc::Status PatientIndexService::RegisterPatient(
    grpc::ServerContext* ctx, const v1::RegisterPatientRequest* request,
    v1::RegisterPatientResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_,
                          {Role::kCare, Role::kPharmacy, Role::kLab});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(index_->Register(caller->organisation_id, *request), response);
}

grpc::Status PatientIndexService::RegisterPatients(
    grpc::ServerContext* ctx,
    grpc::ServerReader<v1::RegisterPatientRequest>* reader,
    v1::RegisterPatientsResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_,
                          {Role::kCare, Role::kPharmacy, Role::kLab});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  server::BulkCap cap(max_bulk_records_, "records");
  // Registered a chunk at a time: a chunk's records commit in groups.
  std::vector<v1::RegisterPatientRequest> chunk;
  auto process = [&] {
    const int first = cap.seen() - static_cast<int>(chunk.size());
    std::vector<absl::StatusOr<v1::RegisterPatientResponse>> answers =
        index_->RegisterMany(caller->organisation_id, chunk);
    for (size_t i = 0; i < answers.size(); ++i) {
      v1::RegisterPatientsResponse::Result* result = response->add_results();
      result->set_index(first + static_cast<int>(i));
      if (answers[i].ok()) {
        *result->mutable_response() = *std::move(answers[i]);
        // Bulk results omit the per-field explanation (it is stored, and
        // RegisterPatient returns it) to stay small.
        result->mutable_response()->clear_fields();
        response->set_succeeded(response->succeeded() + 1);
      } else {
        result->set_code(static_cast<int>(answers[i].status().code()));
        result->set_error(std::string(answers[i].status().message()));
        response->set_failed(response->failed() + 1);
      }
    }
    chunk.clear();
  };
  v1::RegisterPatientRequest request;
  while (reader->Read(&request)) {
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    if (!cap.Admit(response, [&] {
          if (!chunk.empty()) process();
        })) {
      continue;
    }
    chunk.push_back(std::move(request));
    if (chunk.size() >= kStreamChunk) process();
  }
  process();
  return grpc::Status::OK;
}

grpc::Status PatientIndexService::GetPatient(
    grpc::ServerContext* ctx, const v1::GetPatientRequest* request,
    v1::GetPatientResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kCare, Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(index_->GetPatient(request->regional_id()), response);
}

grpc::Status PatientIndexService::GetCrossReferences(
    grpc::ServerContext* ctx, const v1::GetCrossReferencesRequest* request,
    v1::GetCrossReferencesResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_,
                          {Role::kCare, Role::kPharmacy, Role::kLab, Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(index_->GetCrossReferences(caller->organisation_id, *request),
               response);
}

grpc::Status PatientIndexService::SearchPatients(
    grpc::ServerContext* ctx, const v1::SearchPatientsRequest* request,
    v1::SearchPatientsResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kCare, Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(index_->Search(*request), response);
}

grpc::Status PatientIndexService::ListReviewTasks(
    grpc::ServerContext* ctx, const v1::ListReviewTasksRequest* request,
    v1::ListReviewTasksResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(index_->ListReviewTasks(*request), response);
}

grpc::Status PatientIndexService::ResolveReviewTask(
    grpc::ServerContext* ctx, const v1::ResolveReviewTaskRequest* request,
    v1::ResolveReviewTaskResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(index_->ResolveReviewTask(caller->organisation_id, *request),
               response);
}

grpc::Status PatientIndexService::MergePatients(
    grpc::ServerContext* ctx, const v1::MergePatientsRequest* request,
    v1::MergePatientsResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(index_->Merge(caller->organisation_id, *request), response);
}

grpc::Status PatientIndexService::UnmergePatients(
    grpc::ServerContext* ctx, const v1::UnmergePatientsRequest* request,
    v1::UnmergePatientsResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(index_->Unmerge(caller->organisation_id, *request), response);
}

grpc::Status PatientIndexService::UnlinkRecord(
    grpc::ServerContext* ctx, const v1::UnlinkRecordRequest* request,
    v1::UnlinkRecordResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(index_->Unlink(caller->organisation_id, *request), response);
}

}  // namespace meridian::patient
