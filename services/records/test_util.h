// Synthetic records for the records service's tests (no real person).
#ifndef MERIDIAN_SERVICES_RECORDS_TEST_UTIL_H_
#define MERIDIAN_SERVICES_RECORDS_TEST_UTIL_H_

#include <string>

#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "libs/orgs/directory.h"
#include "meridian/records/v1/records.pb.h"

namespace meridian::records::testing {

namespace v1 = ::meridian::records::v1;

// 2026-06-01T08:00:00Z: the clock the unit tests run at.
inline const absl::Time kNow = absl::FromUnixSeconds(1780300800);

inline google::protobuf::Timestamp At(absl::Time t) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

// A small directory: two hospitals, a township centre, a pharmacy.
inline orgs::Directory Directory() {
  return *orgs::Directory::FromText(R"pb(
    organisation { id: "city-hosp-1" name: "City Hospital" type: TERTIARY_HOSPITAL district_code: "330102" }
    organisation { id: "county-hosp-east" name: "County Hospital" type: SECONDARY_HOSPITAL district_code: "330110" }
    organisation { id: "thc-riverside" name: "Riverside Centre" type: TOWNSHIP_HEALTH_CENTRE district_code: "330110" }
    organisation { id: "pharm-central" name: "Central Pharmacy" type: PHARMACY district_code: "330102" }
  )pb");
}

// An outpatient visit `days_ago` days before kNow with two diagnoses.
inline v1::Encounter Encounter(const std::string& local_id, const std::string& patient,
                               int days_ago = 10) {
  v1::Encounter e;
  e.set_local_id(local_id);
  e.set_patient_local_id(patient);
  e.set_encounter_class(v1::OUTPATIENT);
  *e.mutable_start_time() = At(kNow - absl::Hours(24 * days_ago));
  *e.mutable_end_time() = At(kNow - absl::Hours(24 * days_ago) + absl::Minutes(40));
  e.set_department("Endocrinology");
  e.set_attending_clinician("DR-0042");
  auto* d = e.add_diagnoses();
  d->set_icd10_code("E11.9");
  d->set_description("Type 2 diabetes mellitus without complications");
  d->set_primary(true);
  e.add_diagnoses()->set_icd10_code("I10");
  return e;
}

inline v1::ClinicalDocument Document(const std::string& local_id, const std::string& patient,
                                     int days_ago = 9) {
  v1::ClinicalDocument d;
  d.set_local_id(local_id);
  d.set_patient_local_id(patient);
  d.set_document_type(v1::IMAGING_REPORT);
  d.set_title("Chest CT");
  *d.mutable_authored_at() = At(kNow - absl::Hours(24 * days_ago));
  d.set_author("DR-0101");
  d.set_exam_code("CT");
  d.set_text("No focal consolidation. No pleural effusion.");
  return d;
}

inline v1::Referral Referral(const std::string& local_id, const std::string& patient,
                             const std::string& to, int days_ago = 8) {
  v1::Referral r;
  r.set_local_id(local_id);
  r.set_patient_local_id(patient);
  r.set_to_organisation_id(to);
  r.set_reason("Poorly controlled diabetes: specialist review");
  r.set_icd10_code("E11.9");
  *r.mutable_requested_at() = At(kNow - absl::Hours(24 * days_ago));
  return r;
}

template <typename M>
v1::RecordItem Item(const M& m);
template <>
inline v1::RecordItem Item(const v1::Encounter& m) {
  v1::RecordItem i;
  *i.mutable_encounter() = m;
  return i;
}
template <>
inline v1::RecordItem Item(const v1::ClinicalDocument& m) {
  v1::RecordItem i;
  *i.mutable_document() = m;
  return i;
}
template <>
inline v1::RecordItem Item(const v1::Referral& m) {
  v1::RecordItem i;
  *i.mutable_referral() = m;
  return i;
}

}  // namespace meridian::records::testing

#endif  // MERIDIAN_SERVICES_RECORDS_TEST_UTIL_H_
