#include "services/prescriptions/prescriptions_service.h"

#include <initializer_list>

#include "libs/server/auth.h"
#include "libs/server/bulk.h"
#include "libs/server/observability.h"
#include "libs/status/grpc_status.h"

namespace meridian::prescriptions {
namespace {

using orgs::Role;

// The caller as the logic sees it, if its role is one of `roles`.
absl::StatusOr<consent::Accessor> Caller(const grpc::ServerContext& ctx,
                                         const orgs::Directory& directory,
                                         std::initializer_list<Role> roles) {
  absl::StatusOr<server::Caller> caller = server::Authorise(ctx, directory, roles);
  if (!caller.ok()) return caller.status();
  return consent::Accessor{caller->organisation_id, caller->role, server::RequestIdOf(ctx)};
}

}  // namespace

// Hospitals and health centres issue, check, cancel and read; pharmacies
// look up and dispense; both verify.

grpc::Status PrescriptionsService::IssuePrescription(
    grpc::ServerContext* ctx, const v1::IssuePrescriptionRequest* request,
    v1::IssuePrescriptionResponse* response) {
  auto caller = Caller(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Issue(*caller, *request), response);
}

grpc::Status PrescriptionsService::CheckPrescription(
    grpc::ServerContext* ctx, const v1::IssuePrescriptionRequest* request,
    v1::IssuePrescriptionResponse* response) {
  auto caller = Caller(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Issue(*caller, *request, /*dry_run=*/true), response);
}

grpc::Status PrescriptionsService::PushPrescriptions(
    grpc::ServerContext* ctx, grpc::ServerReader<v1::PrescriptionBatch>* reader,
    v1::PushPrescriptionsResponse* response) {
  auto caller = Caller(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  server::BulkCap cap(max_bulk_items_, "prescriptions");
  v1::PrescriptionBatch batch;
  while (reader->Read(&batch)) {
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    for (const v1::IssuePrescriptionRequest& item : batch.items()) {
      if (!cap.Admit(response)) continue;
      auto* result = response->add_results();
      result->set_index(cap.index());
      absl::StatusOr<v1::IssuePrescriptionResponse> r = logic_->Issue(*caller, item);
      if (r.ok()) {
        *result->mutable_result() = *std::move(r);
        response->set_succeeded(response->succeeded() + 1);
      } else {
        result->set_code(static_cast<int>(r.status().code()));
        result->set_error(std::string(r.status().message()));
        response->set_failed(response->failed() + 1);
      }
    }
    batch.Clear();
  }
  return grpc::Status::OK;
}

grpc::Status PrescriptionsService::VerifyPrescription(
    grpc::ServerContext* ctx, const v1::VerifyPrescriptionRequest* request,
    v1::PrescriptionStateResponse* response) {
  auto caller = Caller(*ctx, *directory_, {Role::kCare, Role::kPharmacy});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Verify(*caller, *request), response);
}

grpc::Status PrescriptionsService::CancelPrescription(
    grpc::ServerContext* ctx, const v1::CancelPrescriptionRequest* request,
    v1::PrescriptionStateResponse* response) {
  auto caller = Caller(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Cancel(*caller, *request), response);
}

grpc::Status PrescriptionsService::LookupPrescription(
    grpc::ServerContext* ctx, const v1::LookupPrescriptionRequest* request,
    v1::LookupPrescriptionResponse* response) {
  auto caller = Caller(*ctx, *directory_, {Role::kPharmacy});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Lookup(*caller, *request), response);
}

grpc::Status PrescriptionsService::DispensePrescription(
    grpc::ServerContext* ctx, const v1::DispensePrescriptionRequest* request,
    v1::DispensePrescriptionResponse* response) {
  auto caller = Caller(*ctx, *directory_, {Role::kPharmacy});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Dispense(*caller, *request), response);
}

grpc::Status PrescriptionsService::GetPatientPrescriptions(
    grpc::ServerContext* ctx, const v1::GetPatientPrescriptionsRequest* request,
    v1::GetPatientPrescriptionsResponse* response) {
  auto caller = Caller(*ctx, *directory_, {Role::kCare});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->GetPatientPrescriptions(*caller, *request), response);
}

}  // namespace meridian::prescriptions
