// The gRPC adapter: authenticates the caller, checks its role, hands the
// request to PatientIndex and maps absl::Status to grpc::Status. No logic.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_PATIENT_INDEX_SERVICE_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_PATIENT_INDEX_SERVICE_H_

#include "libs/orgs/directory.h"
#include "meridian/patient/v1/patient_index.grpc.pb.h"
#include "services/patient-index/patient_index.h"

namespace meridian::patient {

// Larger than the chassis default so that an oversized field reaches
// validation and gets INVALID_ARGUMENT naming it, not a bare
// RESOURCE_EXHAUSTED.
inline constexpr int kMaxMessageBytes = 16 << 20;
// Records accepted per RegisterPatients stream (the per-record results must
// fit in one response).
inline constexpr int kMaxBulkRecords = 50000;

class PatientIndexService : public v1::PatientIndex::Service {
 public:
  // `max_bulk_records`: records stored per RegisterPatients stream.
  PatientIndexService(PatientIndex* index, const orgs::Directory* directory,
                      int max_bulk_records = kMaxBulkRecords)
      : index_(index), directory_(directory), max_bulk_records_(max_bulk_records) {}

  grpc::Status RegisterPatient(grpc::ServerContext* ctx,
                               const v1::RegisterPatientRequest* request,
                               v1::RegisterPatientResponse* response) override;
  grpc::Status RegisterPatients(
      grpc::ServerContext* ctx,
      grpc::ServerReader<v1::RegisterPatientRequest>* reader,
      v1::RegisterPatientsResponse* response) override;
  grpc::Status GetPatient(grpc::ServerContext* ctx,
                          const v1::GetPatientRequest* request,
                          v1::GetPatientResponse* response) override;
  grpc::Status GetCrossReferences(
      grpc::ServerContext* ctx, const v1::GetCrossReferencesRequest* request,
      v1::GetCrossReferencesResponse* response) override;
  grpc::Status SearchPatients(grpc::ServerContext* ctx,
                              const v1::SearchPatientsRequest* request,
                              v1::SearchPatientsResponse* response) override;
  grpc::Status ListReviewTasks(grpc::ServerContext* ctx,
                               const v1::ListReviewTasksRequest* request,
                               v1::ListReviewTasksResponse* response) override;
  grpc::Status ResolveReviewTask(grpc::ServerContext* ctx,
                                 const v1::ResolveReviewTaskRequest* request,
                                 v1::ResolveReviewTaskResponse* response) override;
  grpc::Status MergePatients(grpc::ServerContext* ctx,
                             const v1::MergePatientsRequest* request,
                             v1::MergePatientsResponse* response) override;
  grpc::Status UnmergePatients(grpc::ServerContext* ctx,
                               const v1::UnmergePatientsRequest* request,
                               v1::UnmergePatientsResponse* response) override;
  grpc::Status UnlinkRecord(grpc::ServerContext* ctx,
                            const v1::UnlinkRecordRequest* request,
                            v1::UnlinkRecordResponse* response) override;

 private:
  PatientIndex* index_;
  const orgs::Directory* directory_;
  const int max_bulk_records_;
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_PATIENT_INDEX_SERVICE_H_
