// The lab-results service's logic: validation against the reference table,
// unit normalisation, abnormal and critical flags, versioned reports, and
// the consent-checked, audited reads including reuse between institutions.
// Knows nothing of gRPC or SQL (labs_service.h is the gRPC adapter,
// pg_lab_store.h the storage).
#ifndef MERIDIAN_SERVICES_LAB_RESULTS_LABS_H_
#define MERIDIAN_SERVICES_LAB_RESULTS_LABS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "libs/consent/consent.h"
#include "libs/orgs/directory.h"
#include "libs/xref/xref.h"
#include "meridian/labs/v1/events.pb.h"
#include "meridian/labs/v1/labs.pb.h"
#include "services/lab-results/lab_store.h"
#include "services/lab-results/reference.h"

namespace meridian::labs {

inline constexpr char kLabsTopic[] = "meridian.labs.v1";
inline constexpr char kServiceName[] = "lab-results";
inline constexpr int kMaxResults = 200;
inline constexpr int kMaxBulkItems = 100000;
inline constexpr int kMaxMessageBytes = 16 << 20;
inline constexpr int kMaxPageSize = 500;
inline constexpr int kDefaultPageSize = 100;
// Reports a series or a reuse search reads at most.
inline constexpr int kMaxScan = 2000;

struct LabsOptions {
  // Attempts of a write that lost a race (ABORTED) before giving up.
  int max_attempts = 4;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// Validates `report` as pushed by `organisation` and completes it: the
// performing institution, flags where the laboratory sent none (with their
// source) and values in the analyte's canonical unit. INVALID_ARGUMENT naming
// the field otherwise. Exposed for tests and tools.
absl::StatusOr<v1::LabReport> Complete(const ReferenceTable& table,
                                       const orgs::Directory& directory,
                                       const std::string& organisation, v1::LabReport report,
                                       absl::Time now);

class Labs {
 public:
  // Every pointer must outlive this object.
  Labs(LabStore* store, xref::XrefStore* xrefs, consent::Checker* consent,
       const orgs::Directory* directory, const ReferenceTable* table, LabsOptions options = {});

  // Stores a report performed by `organisation` (the caller): created,
  // unchanged, or a correction (a new version).
  absl::StatusOr<v1::PushResult> Push(const std::string& organisation,
                                      const v1::LabReport& report);

  absl::StatusOr<v1::GetReportHistoryResponse> GetReportHistory(
      const std::string& organisation, const v1::GetReportHistoryRequest& request);

  absl::StatusOr<v1::GetPatientResultsResponse> GetPatientResults(
      const consent::Accessor& caller, const v1::GetPatientResultsRequest& request);

  absl::StatusOr<v1::GetSeriesResponse> GetSeries(const consent::Accessor& caller,
                                                  const v1::GetSeriesRequest& request);

  absl::StatusOr<v1::FindReusableResultsResponse> FindReusableResults(
      const consent::Accessor& caller, const v1::FindReusableResultsRequest& request);

 private:
  // The patient's local IDs and the consent decision for `caller` reading
  // their lab results for `purpose`; NOT_FOUND for an unknown patient.
  struct Access {
    std::vector<xref::LocalId> patients;
    consent::Decision decision;
    consent::v1::Purpose purpose = consent::v1::TREATMENT;
  };
  absl::StatusOr<Access> AccessTo(const consent::Accessor& caller,
                                  const std::string& regional_id, consent::v1::Purpose purpose,
                                  const std::string& break_glass_reason);
  // The audit event of a read that returned `found`.
  absl::StatusOr<outbox::PendingEvent> AuditOf(const consent::Accessor& caller,
                                               const char* operation,
                                               const std::string& regional_id,
                                               const Access& access,
                                               const std::string& break_glass_reason,
                                               const std::vector<StoredReport>& found);

  LabStore* store_;
  xref::XrefStore* xrefs_;
  consent::Checker* consent_;
  const orgs::Directory* directory_;
  const ReferenceTable* table_;
  const LabsOptions options_;
};

}  // namespace meridian::labs

#endif  // MERIDIAN_SERVICES_LAB_RESULTS_LABS_H_
