// The records service's logic: validation, versioning, the longitudinal read
// with consent and audit. Knows nothing of gRPC or SQL (records_service.h is
// the gRPC adapter, pg_record_store.h the storage).
#ifndef MERIDIAN_SERVICES_RECORDS_RECORDS_H_
#define MERIDIAN_SERVICES_RECORDS_RECORDS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "libs/consent/consent.h"
#include "libs/orgs/directory.h"
#include "libs/xref/xref.h"
#include "meridian/records/v1/events.pb.h"
#include "meridian/records/v1/records.pb.h"
#include "services/records/record_store.h"

namespace meridian::records {

inline constexpr char kRecordsTopic[] = "meridian.records.v1";
inline constexpr char kServiceName[] = "records";
// Items per PushRecords stream (keeps the response within 4 MiB).
inline constexpr int kMaxBulkItems = 100000;
// Largest message either way (bulk responses are the large ones); a record
// bigger than validation allows is refused by validation with the field.
inline constexpr int kMaxMessageBytes = 16 << 20;
// A page of a patient's record ends early rather than grow past this.
inline constexpr size_t kMaxPageBytes = 8 << 20;
inline constexpr int kMaxPageSize = 500;
inline constexpr int kDefaultPageSize = 100;

struct RecordsOptions {
  // Valid bulk items written per transaction.
  int batch_size = 5000;
  // Attempts of a write that lost a race (ABORTED) before giving up.
  int max_attempts = 4;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// The stored row for `item` as pushed by `organisation`, before any
// read-modify-write (a referral's status is set by Records). Exposed for the
// ingest benchmark's COPY baseline, which must load exactly these rows.
absl::StatusOr<RecordRow> RowFor(const std::string& organisation,
                                 const v1::RecordItem& item);

class Records {
 public:
  // Every pointer must outlive this object.
  Records(RecordStore* store, xref::XrefStore* xrefs, consent::Checker* consent,
          const orgs::Directory* directory, RecordsOptions options = {});

  // Stores one record pushed by `organisation` (the caller).
  absl::StatusOr<v1::PushResult> Push(const std::string& organisation,
                                      const v1::RecordItem& item);

  // Bulk push: one result per item, in order, indexed from `first_index`.
  // Invalid items get their own error and affect no other item; valid ones
  // are written in batches (one transaction each).
  std::vector<v1::PushRecordsResponse::ItemResult> PushMany(
      const std::string& organisation, const std::vector<v1::RecordItem>& items,
      int first_index = 0);

  // The receiving institution (`organisation`) moves a referral on.
  absl::StatusOr<v1::PushResult> UpdateReferralStatus(
      const std::string& organisation, const v1::UpdateReferralStatusRequest& request);

  // A patient's record across institutions: the caller's own data, and other
  // institutions' data where consent permits; audited.
  absl::StatusOr<v1::GetPatientRecordResponse> GetPatientRecord(
      const consent::Accessor& accessor, const v1::GetPatientRecordRequest& request);

  // Every version of one of the caller's own records.
  absl::StatusOr<v1::GetRecordHistoryResponse> GetRecordHistory(
      const std::string& organisation, const v1::GetRecordHistoryRequest& request);

 private:
  // Validates `item` and turns it into a row (for referrals: reading the
  // current status, which the push keeps).
  absl::StatusOr<WriteRequest> Prepare(const std::string& organisation,
                                       const v1::RecordItem& item, absl::Time now);
  // Writes a batch of prepared requests with their events.
  absl::StatusOr<std::vector<WriteResult>> WriteBatch(
      const std::string& organisation, const std::vector<WriteRequest>& requests);
  // Prepare + WriteBatch of one item, retried when it lost a race.
  absl::StatusOr<v1::PushResult> PushOne(const std::string& organisation,
                                         const v1::RecordItem& item);

  RecordStore* store_;
  xref::XrefStore* xrefs_;
  consent::Checker* consent_;
  const orgs::Directory* directory_;
  const RecordsOptions options_;
};

}  // namespace meridian::records

#endif  // MERIDIAN_SERVICES_RECORDS_RECORDS_H_
