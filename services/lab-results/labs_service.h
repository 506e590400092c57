// The gRPC adapter of the lab-results service: authorisation by role, then
// the logic (labs.h); absl::Status becomes grpc::Status here and nowhere
// else.
#ifndef MERIDIAN_SERVICES_LAB_RESULTS_LABS_SERVICE_H_
#define MERIDIAN_SERVICES_LAB_RESULTS_LABS_SERVICE_H_

#include "libs/orgs/directory.h"
#include "meridian/labs/v1/labs.grpc.pb.h"
#include "services/lab-results/labs.h"

namespace meridian::labs {

class LabsService final : public v1::LabResults::Service {
 public:
  // `max_bulk_items`: reports stored per PushReports stream.
  LabsService(Labs* logic, const orgs::Directory* directory, int max_bulk_items = kMaxBulkItems)
      : logic_(logic), directory_(directory), max_bulk_items_(max_bulk_items) {}

  grpc::Status PushReport(grpc::ServerContext* ctx, const v1::LabReport* request,
                          v1::PushResult* response) override;
  grpc::Status PushReports(grpc::ServerContext* ctx,
                           grpc::ServerReader<v1::LabReportBatch>* reader,
                           v1::PushReportsResponse* response) override;
  grpc::Status GetReportHistory(grpc::ServerContext* ctx,
                                const v1::GetReportHistoryRequest* request,
                                v1::GetReportHistoryResponse* response) override;
  grpc::Status GetPatientResults(grpc::ServerContext* ctx,
                                 const v1::GetPatientResultsRequest* request,
                                 v1::GetPatientResultsResponse* response) override;
  grpc::Status GetSeries(grpc::ServerContext* ctx, const v1::GetSeriesRequest* request,
                         v1::GetSeriesResponse* response) override;
  grpc::Status FindReusableResults(grpc::ServerContext* ctx,
                                   const v1::FindReusableResultsRequest* request,
                                   v1::FindReusableResultsResponse* response) override;

 private:
  Labs* logic_;
  const orgs::Directory* directory_;
  const int max_bulk_items_;
};

}  // namespace meridian::labs

#endif  // MERIDIAN_SERVICES_LAB_RESULTS_LABS_SERVICE_H_
