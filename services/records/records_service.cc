#include "services/records/records_service.h"

#include "absl/strings/str_cat.h"
#include "libs/consent/accessor.h"
#include "libs/server/auth.h"
#include "libs/server/bulk.h"
#include "libs/status/grpc_status.h"

namespace meridian::records {
namespace {

using orgs::Role;

// Hospitals and township health centres push and read clinical records.
absl::StatusOr<server::Caller> AuthoriseCare(grpc::ServerContext& ctx,
                                             const orgs::Directory& directory) {
  return server::Authorise(ctx, directory, {Role::kCare});
}

// Items handed to the logic at a time from a bulk stream.
constexpr int kStreamChunk = 5000;

}  // namespace

grpc::Status RecordsService::PushItem(grpc::ServerContext* ctx, const v1::RecordItem& item,
                                      v1::PushResult* response) {
  auto caller = AuthoriseCare(*ctx, *directory_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(records_->Push(caller->organisation_id, item), response);
}

grpc::Status RecordsService::PushEncounter(grpc::ServerContext* ctx,
                                           const v1::Encounter* request,
                                           v1::PushResult* response) {
  v1::RecordItem item;
  *item.mutable_encounter() = *request;
  return PushItem(ctx, item, response);
}

grpc::Status RecordsService::PushDocument(grpc::ServerContext* ctx,
                                          const v1::ClinicalDocument* request,
                                          v1::PushResult* response) {
  v1::RecordItem item;
  *item.mutable_document() = *request;
  return PushItem(ctx, item, response);
}

grpc::Status RecordsService::PushReferral(grpc::ServerContext* ctx,
                                          const v1::Referral* request,
                                          v1::PushResult* response) {
  v1::RecordItem item;
  *item.mutable_referral() = *request;
  return PushItem(ctx, item, response);
}

grpc::Status RecordsService::PushRecords(grpc::ServerContext* ctx,
                                         grpc::ServerReader<v1::RecordBatch>* reader,
                                         v1::PushRecordsResponse* response) {
  auto caller = AuthoriseCare(*ctx, *directory_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  std::vector<v1::RecordItem> chunk;
  chunk.reserve(kStreamChunk);
  server::BulkCap cap(max_bulk_items_, "items");
  auto process = [&] {
    for (auto& r : records_->PushMany(caller->organisation_id, chunk,
                                         cap.seen() - static_cast<int>(chunk.size()))) {
      if (r.code() == 0) {
        response->set_succeeded(response->succeeded() + 1);
      } else {
        response->set_failed(response->failed() + 1);
      }
      *response->add_results() = std::move(r);
    }
    chunk.clear();
  };
  v1::RecordBatch batch;
  while (reader->Read(&batch)) {
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    for (v1::RecordItem& item : *batch.mutable_items()) {
      if (!cap.Admit(response, [&] {
            if (!chunk.empty()) process();
          })) {
        continue;
      }
      chunk.push_back(std::move(item));
      if (chunk.size() >= kStreamChunk) process();
    }
    batch.Clear();
  }
  process();
  return grpc::Status::OK;
}

grpc::Status RecordsService::UpdateReferralStatus(
    grpc::ServerContext* ctx, const v1::UpdateReferralStatusRequest* request,
    v1::PushResult* response) {
  auto caller = AuthoriseCare(*ctx, *directory_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(records_->UpdateReferralStatus(caller->organisation_id, *request), response);
}

grpc::Status RecordsService::GetPatientRecord(grpc::ServerContext* ctx,
                                              const v1::GetPatientRecordRequest* request,
                                              v1::GetPatientRecordResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(records_->GetPatientRecord(*caller, *request), response);
}

grpc::Status RecordsService::GetRecordHistory(grpc::ServerContext* ctx,
                                              const v1::GetRecordHistoryRequest* request,
                                              v1::GetRecordHistoryResponse* response) {
  auto caller = AuthoriseCare(*ctx, *directory_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(records_->GetRecordHistory(caller->organisation_id, *request), response);
}

}  // namespace meridian::records
