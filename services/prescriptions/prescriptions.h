// The prescriptions service's logic: validation against the formulary,
// safety checks across institutions, the lifecycle (issue, verify, dispense,
// cancel, expire) and the consent-checked, audited read. Knows nothing of
// gRPC or SQL (prescriptions_service.h is the gRPC adapter,
// pg_prescription_store.h the storage).
#ifndef MERIDIAN_SERVICES_PRESCRIPTIONS_PRESCRIPTIONS_H_
#define MERIDIAN_SERVICES_PRESCRIPTIONS_PRESCRIPTIONS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "libs/consent/consent.h"
#include "libs/orgs/directory.h"
#include "libs/xref/xref.h"
#include "meridian/prescriptions/v1/events.pb.h"
#include "meridian/prescriptions/v1/prescriptions.pb.h"
#include "services/prescriptions/formulary.h"
#include "services/prescriptions/prescription_store.h"
#include "services/prescriptions/safety.h"

namespace meridian::prescriptions {

inline constexpr char kPrescriptionsTopic[] = "meridian.prescriptions.v1";
inline constexpr char kServiceName[] = "prescriptions";
inline constexpr int kMaxItems = 20;
inline constexpr int kMaxBulkItems = 100000;
inline constexpr int kMaxMessageBytes = 16 << 20;
inline constexpr int kMaxPageSize = 500;
inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxValidityDays = 30;

struct PrescriptionsOptions {
  // Validity of a prescription that does not state its own.
  int default_validity_days = 3;
  // Attempts of a write that lost a race (ABORTED) before giving up.
  int max_attempts = 4;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // The verification code of a new prescription; a random 8-character code
  // from an alphabet without look-alike characters unless set (tests).
  std::function<std::string()> new_code;
};

class Prescriptions {
 public:
  // Every pointer must outlive this object.
  Prescriptions(PrescriptionStore* store, xref::XrefStore* xrefs, consent::Checker* consent,
                const orgs::Directory* directory, const Formulary* formulary,
                PrescriptionsOptions options = {});

  // Issues `request` for the caller (a hospital or health centre); with
  // `dry_run`, validates and checks but stores nothing (outcome CHECKED, or
  // REFUSED).
  absl::StatusOr<v1::IssuePrescriptionResponse> Issue(const consent::Accessor& caller,
                                                      const v1::IssuePrescriptionRequest& request,
                                                      bool dry_run = false);

  // The issuer, or a pharmacy with the verification code, records a
  // pharmacist's review.
  absl::StatusOr<v1::PrescriptionStateResponse> Verify(
      const consent::Accessor& caller, const v1::VerifyPrescriptionRequest& request);

  // The issuer cancels, with a reason.
  absl::StatusOr<v1::PrescriptionStateResponse> Cancel(
      const consent::Accessor& caller, const v1::CancelPrescriptionRequest& request);

  // A pharmacy holding the verification code reads what it needs; audited.
  absl::StatusOr<v1::LookupPrescriptionResponse> Lookup(
      const consent::Accessor& caller, const v1::LookupPrescriptionRequest& request);

  // A pharmacy dispenses; idempotent on its dispensing ID.
  absl::StatusOr<v1::DispensePrescriptionResponse> Dispense(
      const consent::Accessor& caller, const v1::DispensePrescriptionRequest& request);

  // A patient's prescriptions across the region; consent-checked, audited.
  absl::StatusOr<v1::GetPatientPrescriptionsResponse> GetPatientPrescriptions(
      const consent::Accessor& caller, const v1::GetPatientPrescriptionsRequest& request);

  // Marks up to `limit` prescriptions whose validity ended EXPIRED (with
  // their events); returns how many.
  absl::StatusOr<int> ExpireDue(int limit = 500);

 private:
  // The patient's active drugs other than the new prescription's, and
  // whether other institutions' could be included.
  struct Active {
    std::vector<ActiveDrug> drugs;
    bool cross_institution = false;
    std::string regional_id;
  };
  absl::StatusOr<Active> ActiveDrugsOf(const consent::Accessor& caller,
                                       const std::string& patient_local_id, absl::Time now);
  // A change of prescription `id` under its row lock, given the patient's
  // regional ID (for the events), retried when it lost a race; NOT_FOUND
  // for an unknown ID as for a wrong verification code.
  using Change = std::function<absl::Status(StoredPrescription& rx,
                                            const std::string& regional_id,
                                            std::vector<outbox::PendingEvent>* events)>;
  absl::StatusOr<StoredPrescription> UpdateWithRetries(const std::string& id,
                                                       const Change& change);
  // The event for a change of `rx` by `actor`.
  absl::StatusOr<outbox::PendingEvent> EventFor(const char* type, const StoredPrescription& rx,
                                                const std::string& actor,
                                                const std::string& regional_id,
                                                const v1::Dispensing* dispensing = nullptr);

  PrescriptionStore* store_;
  xref::XrefStore* xrefs_;
  consent::Checker* consent_;
  const orgs::Directory* directory_;
  const Formulary* formulary_;
  const PrescriptionsOptions options_;
};

}  // namespace meridian::prescriptions

#endif  // MERIDIAN_SERVICES_PRESCRIPTIONS_PRESCRIPTIONS_H_
