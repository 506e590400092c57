// The gRPC adapter of the prescriptions service: authorisation by role, then
// the logic (prescriptions.h); absl::Status becomes grpc::Status here and
// nowhere else.
#ifndef MERIDIAN_SERVICES_PRESCRIPTIONS_PRESCRIPTIONS_SERVICE_H_
#define MERIDIAN_SERVICES_PRESCRIPTIONS_PRESCRIPTIONS_SERVICE_H_

#include "libs/orgs/directory.h"
#include "meridian/prescriptions/v1/prescriptions.grpc.pb.h"
#include "services/prescriptions/prescriptions.h"

namespace meridian::prescriptions {

class PrescriptionsService final : public v1::Prescriptions::Service {
 public:
  // `max_bulk_items`: items answered per PushPrescriptions stream.
  PrescriptionsService(Prescriptions* logic, const orgs::Directory* directory,
                       int max_bulk_items = kMaxBulkItems)
      : logic_(logic), directory_(directory), max_bulk_items_(max_bulk_items) {}

  grpc::Status IssuePrescription(grpc::ServerContext* ctx,
                                 const v1::IssuePrescriptionRequest* request,
                                 v1::IssuePrescriptionResponse* response) override;
  grpc::Status CheckPrescription(grpc::ServerContext* ctx,
                                 const v1::IssuePrescriptionRequest* request,
                                 v1::IssuePrescriptionResponse* response) override;
  grpc::Status PushPrescriptions(grpc::ServerContext* ctx,
                                 grpc::ServerReader<v1::PrescriptionBatch>* reader,
                                 v1::PushPrescriptionsResponse* response) override;
  grpc::Status VerifyPrescription(grpc::ServerContext* ctx,
                                  const v1::VerifyPrescriptionRequest* request,
                                  v1::PrescriptionStateResponse* response) override;
  grpc::Status CancelPrescription(grpc::ServerContext* ctx,
                                  const v1::CancelPrescriptionRequest* request,
                                  v1::PrescriptionStateResponse* response) override;
  grpc::Status LookupPrescription(grpc::ServerContext* ctx,
                                  const v1::LookupPrescriptionRequest* request,
                                  v1::LookupPrescriptionResponse* response) override;
  grpc::Status DispensePrescription(grpc::ServerContext* ctx,
                                    const v1::DispensePrescriptionRequest* request,
                                    v1::DispensePrescriptionResponse* response) override;
  grpc::Status GetPatientPrescriptions(grpc::ServerContext* ctx,
                                       const v1::GetPatientPrescriptionsRequest* request,
                                       v1::GetPatientPrescriptionsResponse* response) override;

 private:
  Prescriptions* logic_;
  const orgs::Directory* directory_;
  const int max_bulk_items_;
};

}  // namespace meridian::prescriptions

#endif  // MERIDIAN_SERVICES_PRESCRIPTIONS_PRESCRIPTIONS_SERVICE_H_
