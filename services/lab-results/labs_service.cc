#include "services/lab-results/labs_service.h"

#include "libs/consent/accessor.h"
#include "libs/server/auth.h"
#include "libs/server/bulk.h"
#include "libs/status/grpc_status.h"

namespace meridian::labs {

using orgs::Role;

// Laboratories and hospitals (their own laboratories) push; hospitals and
// health centres read.

grpc::Status LabsService::PushReport(grpc::ServerContext* ctx, const v1::LabReport* request,
                                     v1::PushResult* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kLab, Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Push(caller->organisation_id, *request), response);
}

grpc::Status LabsService::PushReports(grpc::ServerContext* ctx,
                                      grpc::ServerReader<v1::LabReportBatch>* reader,
                                      v1::PushReportsResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kLab, Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  server::BulkCap cap(max_bulk_items_, "reports");
  v1::LabReportBatch batch;
  while (reader->Read(&batch)) {
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    for (const v1::LabReport& report : batch.reports()) {
      if (!cap.Admit(response)) continue;
      cap.Answer(response, logic_->Push(caller->organisation_id, report),
                 [](auto* result, v1::PushResult r) { *result->mutable_result() = std::move(r); });
    }
    batch.Clear();
  }
  return grpc::Status::OK;
}

grpc::Status LabsService::GetReportHistory(grpc::ServerContext* ctx,
                                           const v1::GetReportHistoryRequest* request,
                                           v1::GetReportHistoryResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kLab, Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->GetReportHistory(caller->organisation_id, *request), response);
}

grpc::Status LabsService::GetPatientResults(grpc::ServerContext* ctx,
                                            const v1::GetPatientResultsRequest* request,
                                            v1::GetPatientResultsResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->GetPatientResults(*caller, *request), response);
}

grpc::Status LabsService::GetSeries(grpc::ServerContext* ctx, const v1::GetSeriesRequest* request,
                                    v1::GetSeriesResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->GetSeries(*caller, *request), response);
}

grpc::Status LabsService::FindReusableResults(grpc::ServerContext* ctx,
                                              const v1::FindReusableResultsRequest* request,
                                              v1::FindReusableResultsResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->FindReusableResults(*caller, *request), response);
}

}  // namespace meridian::labs
