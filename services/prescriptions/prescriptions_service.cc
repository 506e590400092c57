#include "services/prescriptions/prescriptions_service.h"

#include "libs/consent/accessor.h"
#include "libs/server/bulk.h"
#include "libs/status/grpc_status.h"

namespace meridian::prescriptions {

using orgs::Role;

// Hospitals and health centres issue, check, cancel and read; pharmacies
// look up and dispense; both verify.

grpc::Status PrescriptionsService::IssuePrescription(
    grpc::ServerContext* ctx, const v1::IssuePrescriptionRequest* request,
    v1::IssuePrescriptionResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Issue(*caller, *request), response);
}

grpc::Status PrescriptionsService::CheckPrescription(
    grpc::ServerContext* ctx, const v1::IssuePrescriptionRequest* request,
    v1::IssuePrescriptionResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Issue(*caller, *request, /*dry_run=*/true), response);
}

grpc::Status PrescriptionsService::PushPrescriptions(
    grpc::ServerContext* ctx, grpc::ServerReader<v1::PrescriptionBatch>* reader,
    v1::PushPrescriptionsResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  server::BulkCap cap(max_bulk_items_, "prescriptions");
  v1::PrescriptionBatch batch;
  while (reader->Read(&batch)) {
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    for (const v1::IssuePrescriptionRequest& item : batch.items()) {
      if (!cap.Admit(response)) continue;
      cap.Answer(response, logic_->Issue(*caller, item),
                 [](auto* result, v1::IssuePrescriptionResponse r) {
                   *result->mutable_result() = std::move(r);
                 });
    }
    batch.Clear();
  }
  return grpc::Status::OK;
}

grpc::Status PrescriptionsService::VerifyPrescription(
    grpc::ServerContext* ctx, const v1::VerifyPrescriptionRequest* request,
    v1::PrescriptionStateResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kCare, Role::kPharmacy});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Verify(*caller, *request), response);
}

grpc::Status PrescriptionsService::CancelPrescription(
    grpc::ServerContext* ctx, const v1::CancelPrescriptionRequest* request,
    v1::PrescriptionStateResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Cancel(*caller, *request), response);
}

grpc::Status PrescriptionsService::LookupPrescription(
    grpc::ServerContext* ctx, const v1::LookupPrescriptionRequest* request,
    v1::LookupPrescriptionResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kPharmacy});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Lookup(*caller, *request), response);
}

grpc::Status PrescriptionsService::DispensePrescription(
    grpc::ServerContext* ctx, const v1::DispensePrescriptionRequest* request,
    v1::DispensePrescriptionResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kPharmacy});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Dispense(*caller, *request), response);
}

grpc::Status PrescriptionsService::GetPatientPrescriptions(
    grpc::ServerContext* ctx, const v1::GetPatientPrescriptionsRequest* request,
    v1::GetPatientPrescriptionsResponse* response) {
  auto caller = consent::AuthoriseAccessor(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->GetPatientPrescriptions(*caller, *request), response);
}

}  // namespace meridian::prescriptions
