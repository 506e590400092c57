// The gRPC adapter of the records service: authorisation by role, then the
// logic (records.h); absl::Status becomes grpc::Status here and nowhere else.
#ifndef MERIDIAN_SERVICES_RECORDS_RECORDS_SERVICE_H_
#define MERIDIAN_SERVICES_RECORDS_RECORDS_SERVICE_H_

#include "libs/orgs/directory.h"
#include "meridian/records/v1/records.grpc.pb.h"
#include "services/records/records.h"

namespace meridian::records {

class RecordsService final : public v1::Records::Service {
 public:
  // `max_bulk_items`: items stored per PushRecords stream.
  RecordsService(Records* records, const orgs::Directory* directory,
                 int max_bulk_items = kMaxBulkItems)
      : records_(records), directory_(directory), max_bulk_items_(max_bulk_items) {}

  grpc::Status PushEncounter(grpc::ServerContext* ctx, const v1::Encounter* request,
                             v1::PushResult* response) override;
  grpc::Status PushDocument(grpc::ServerContext* ctx, const v1::ClinicalDocument* request,
                            v1::PushResult* response) override;
  grpc::Status PushReferral(grpc::ServerContext* ctx, const v1::Referral* request,
                            v1::PushResult* response) override;
  grpc::Status PushRecords(grpc::ServerContext* ctx,
                           grpc::ServerReader<v1::RecordBatch>* reader,
                           v1::PushRecordsResponse* response) override;
  grpc::Status UpdateReferralStatus(grpc::ServerContext* ctx,
                                    const v1::UpdateReferralStatusRequest* request,
                                    v1::PushResult* response) override;
  grpc::Status GetPatientRecord(grpc::ServerContext* ctx,
                                const v1::GetPatientRecordRequest* request,
                                v1::GetPatientRecordResponse* response) override;
  grpc::Status GetRecordHistory(grpc::ServerContext* ctx,
                                const v1::GetRecordHistoryRequest* request,
                                v1::GetRecordHistoryResponse* response) override;

 private:
  grpc::Status PushItem(grpc::ServerContext* ctx, const v1::RecordItem& item,
                        v1::PushResult* response);

  Records* records_;
  const orgs::Directory* directory_;
  const int max_bulk_items_;
};

}  // namespace meridian::records

#endif  // MERIDIAN_SERVICES_RECORDS_RECORDS_SERVICE_H_
