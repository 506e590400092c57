// A living region: patients' journeys across the region's institutions as a
// deterministic stream of steps, each one RPC by one institution with the
// outcome the platform should give. Pure logic: no gRPC, no clock, no I/O
// (tools/region/main.cc runs the steps against the platform).
//
// A patient first contacts a township health centre or a hospital, which
// registers them; then come episodes: outpatient visits with ICD-10
// diagnoses, prescriptions from the formulary dispensed at pharmacies, lab
// tests reported by the hospital's own accredited laboratory or the regional
// one, referrals from a centre up to a county or city hospital and back
// (with the receiving hospital reusing recent results instead of repeating
// them), consent refusals, grants and revocations recorded through the
// patient portal or a hospital, reads of the regional record by another
// institution, and registrations elsewhere with typos (the duplicates the
// patient index has to link).
//
//   absl::StatusOr<Region> region = Region::FromDirectory(directory);
//   Options options{.seed = 7, .patients = 500, .run = "r1a2b", .now = absl::Now()};
//   for (const std::vector<Step>& journey : Population(*region, options)) ...
//
// Steps carry their request with everything the generator knows; the runner
// fills in what only the platform knows: the patient's regional ID (from the
// first registration), and the prescription, verification code or directive
// named by `ref`.
#ifndef MERIDIAN_TOOLS_REGION_JOURNEY_H_
#define MERIDIAN_TOOLS_REGION_JOURNEY_H_

#include <cstdint>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/orgs/directory.h"
#include "meridian/consent/v1/consent.pb.h"
#include "meridian/labs/v1/labs.pb.h"
#include "meridian/patient/v1/patient_index.pb.h"
#include "meridian/prescriptions/v1/prescriptions.pb.h"
#include "meridian/records/v1/records.pb.h"

namespace meridian::region {

enum class StepKind {
  kRegister,           // PatientIndex.RegisterPatient: first contact or a referral's receiver
  kRegisterDuplicate,  // PatientIndex.RegisterPatient: elsewhere, with typos
  kVisit,              // Records.PushEncounter
  kReferral,           // Records.PushReferral
  kReferralStatus,     // Records.UpdateReferralStatus (ACCEPTED, then COMPLETED)
  kPrescribe,          // Prescriptions.IssuePrescription
  kLookup,             // Prescriptions.LookupPrescription (a pharmacy, with the code)
  kDispense,           // Prescriptions.DispensePrescription
  kLabReport,          // LabResults.PushReport
  kLabReuse,           // LabResults.FindReusableResults
  kConsentGrant,       // Consent.Grant, effect PERMIT
  kConsentRefuse,      // Consent.Grant, effect DENY
  kConsentRevoke,      // Consent.Revoke
  kRecordRead,         // Records.GetPatientRecord
};
inline constexpr int kStepKindCount = 14;

// "register", "register_duplicate", "visit", ... (JSON keys).
absl::string_view KindName(StepKind kind);
// "PatientIndex.RegisterPatient", ...
absl::string_view RpcName(StepKind kind);

// What the platform should answer.
enum class Expect {
  kOk,
  // A read answered with other institutions' records withheld, as the
  // patient's directives require: an expected outcome, not an error.
  kWithheld,
};

using Request =
    std::variant<patient::v1::RegisterPatientRequest, records::v1::Encounter,
                 records::v1::Referral, records::v1::UpdateReferralStatusRequest,
                 prescriptions::v1::IssuePrescriptionRequest,
                 prescriptions::v1::LookupPrescriptionRequest,
                 prescriptions::v1::DispensePrescriptionRequest, labs::v1::LabReport,
                 labs::v1::FindReusableResultsRequest, consent::v1::GrantRequest,
                 consent::v1::RevokeRequest, records::v1::GetPatientRecordRequest>;

struct Step {
  int patient = 0;  // index in the population
  int seq = 0;      // position in the patient's journey, from 0
  StepKind kind = StepKind::kRegister;
  std::string org;  // the acting institution (its client certificate)
  Expect expect = Expect::kOk;
  // The earlier step (seq) whose answer this one needs: the prescription of
  // a lookup or dispensing, the report of a reuse, the directive of a
  // revocation. -1: none.
  int ref = -1;
  // Reads: institutions other than `org` that pushed encounters under a
  // registration of this person (shown when permitted, withheld otherwise).
  std::vector<std::string> shared_by;
  // Requests that name the patient regionally (grants, reuse, reads) leave
  // regional_id empty; lookups, dispensings and revocations leave the IDs
  // that `ref`'s answer gives empty.
  Request request;
};

// The region's institutions by role, from the organisation directory
// (sorted by ID, so that the same directory gives the same journeys).
struct Region {
  static absl::StatusOr<Region> FromDirectory(const orgs::Directory& directory);

  std::vector<std::string> township;   // TOWNSHIP_HEALTH_CENTRE
  std::vector<std::string> secondary;  // SECONDARY_HOSPITAL
  std::vector<std::string> tertiary;   // TERTIARY_HOSPITAL
  std::vector<std::string> pharmacies;
  std::vector<std::string> labs;       // LAB (regional laboratories)
  std::string portal;                  // PATIENT_PORTAL ("" when none)
  absl::flat_hash_map<std::string, organisations::v1::OrganisationType> type;
  absl::flat_hash_map<std::string, bool> accredited;  // lab_accredited

  bool IsAccredited(const std::string& org) const;
  // Every organisation a journey may act as.
  std::vector<std::string> Actors() const;
};

struct Options {
  uint64_t seed = 1;
  int patients = 1000;
  // Prefix of every local ID, and part of who the people are (names, phones,
  // resident IDs): a run does not meet an earlier run's people in the
  // patient index. 1-16 of [A-Za-z0-9].
  std::string run = "run";
  // Journeys happen in the four weeks before `now` (prescriptions stay
  // dispensable, results reusable).
  absl::Time now = absl::UnixEpoch();
  // Share of people registered again elsewhere with typos (1-2 copies).
  double duplicate_rate = 0.3;
};

// A synthetic person (tools/gen/gen_patients.py's model, in C++): Chinese
// names by frequency, a resident ID with its MOD 11-2 check character
// (children mostly without one), phone, address, insurance number.
struct Person {
  std::string family_name;
  std::string given_name;
  bool male = false;
  std::string birth_date;  // YYYYMMDD
  std::string phone;
  std::string address_line;
  std::string district_code;
  std::string resident_id;
  std::string insurance_no;

  // `local_id` at an institution.
  patient::v1::RegisterPatientRequest AsRequest(const std::string& local_id) const;
};

// The person with 1-3 of the errors real registries show: a homophone in the
// given name, day and month swapped, a wrong phone digit, a moved address, a
// colloquial given name (小明), a missing resident ID, phone or insurance
// number. A swap that would put the birth date after `now`'s day (UTC; the
// platform's day, China's, is never earlier) is not made: the platform
// rightly refuses a birth date in the future.
Person WithTypos(const Person& person, std::mt19937_64& rng, absl::Time now);

// One patient's journey, generated episode by episode (the load generator
// keeps asking for more; Population asks for a few).
class PatientJourney {
 public:
  PatientJourney(const Region* region, const Options* options, int patient);

  // First contact: registration and a visit; some people also attend a
  // second institution. Call once, first.
  std::vector<Step> Intake();
  // The next episode, its steps at or before `now`.
  std::vector<Step> NextEpisode(absl::Time now);

  const Person& person() const { return person_; }

  // A diagnosis with its department, regimen, lab panel and referral reason
  // (journey.cc's table).
  struct Condition;

 private:
  struct Directive {
    int seq = 0;  // the grant's step
    consent::v1::Directive directive;
    std::string recorded_by;
    bool active = true;
  };
  struct Report {
    int seq = 0;
    std::string performer;
    std::vector<std::string> loinc_codes;
  };

  Step& Add(std::vector<Step>& out, StepKind kind, const std::string& org);
  std::string Id(absl::string_view prefix, int seq) const;
  std::string LocalId(const std::string& org) const;
  absl::Time Advance(absl::Duration min, absl::Duration max);
  const Condition& PickCondition();

  void Register(std::vector<Step>& out, const std::string& org);
  std::string Visit(std::vector<Step>& out, const std::string& org, const Condition& c,
                    records::v1::EncounterClass encounter_class);
  void Prescribe(std::vector<Step>& out, const std::string& org, const Condition& c,
                 const std::string& encounter);
  void Dispense(std::vector<Step>& out, int prescription_seq,
                const prescriptions::v1::Prescription& p);
  void LabTest(std::vector<Step>& out, const std::string& org, const Condition& c);
  void Reuse(std::vector<Step>& out, const std::string& org);
  void Read(std::vector<Step>& out, const std::string& reader);
  void Grant(std::vector<Step>& out, consent::v1::Effect effect, const std::string& to,
             const std::string& recorded_by);

  void PrimaryCare(std::vector<Step>& out);
  bool Referral(std::vector<Step>& out);
  void Duplicate(std::vector<Step>& out);
  bool Consent(std::vector<Step>& out);

  // Care institutions registered (not via typo'd copies), with their
  // patient's local ID, in order of registration.
  std::vector<std::string> Readers() const;
  std::vector<std::string> SharedFor(const std::string& reader) const;
  bool Permitted(const std::string& reader) const;
  std::string HigherTier(const std::string& from);

  const Region* region_;
  const Options* options_;
  int patient_;
  std::mt19937_64 rng_;         // the journey
  std::mt19937_64 person_rng_;  // who the person is (depends on the run too)
  Person person_;
  int age_ = 0;
  std::vector<const Condition*> conditions_;
  bool duplicate_pending_ = false;
  int seq_ = 0;
  absl::Time clock_;
  absl::Time limit_;
  std::string home_;
  std::vector<std::string> registered_;  // clean registrations, in order
  std::vector<std::string> copies_;      // institutions holding a typo'd copy
  std::vector<std::string> visited_;     // pushed encounters (clean registrations)
  std::vector<Directive> directives_;
  std::vector<Report> reports_;
  int referrals_ = 0;
};

// Every patient's journey: the intake and then 2-5 episodes, all before
// options.now. The same region and options give the same steps.
std::vector<std::vector<Step>> Population(const Region& region, const Options& options);

// Whether `org` may read the RECORDS of a patient, for treatment, at `now`,
// under the patient's `directives` (revoked ones left out by the caller):
// the consent service's own decision (consent::Decide) with the regional
// defaults.
bool RecordsPermitted(const Region& region, const std::string& org,
                      const std::vector<consent::v1::Directive>& directives, absl::Time now);

}  // namespace meridian::region

#endif  // MERIDIAN_TOOLS_REGION_JOURNEY_H_
