#include "services/deid-stream/pipeline.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/outbox/outbox.h"
#include "libs/status/status_macros.h"
#include "meridian/audit/v1/events.pb.h"
#include "meridian/labs/v1/events.pb.h"
#include "meridian/patient/v1/events.pb.h"
#include "meridian/prescriptions/v1/events.pb.h"
#include "meridian/records/v1/events.pb.h"

namespace meridian::deidstream {
namespace {

// The consent category an event of `topic` and `type` belongs to.
consent::v1::DataCategory CategoryOf(absl::string_view topic, absl::string_view type) {
  if (topic == "meridian.prescriptions.v1") return consent::v1::PRESCRIPTIONS;
  if (topic == "meridian.labs.v1") return consent::v1::LABS;
  if (topic == "meridian.records.v1" && type == "document.filed") return consent::v1::DOCUMENTS;
  // Encounters, referrals, the patient index's links and the audit of
  // accesses: the patient's records.
  return consent::v1::RECORDS;
}

}  // namespace

std::vector<const google::protobuf::Descriptor*> PayloadTypes() {
  // Named here so that the binary links them: a payload whose type the
  // binary does not know is dropped whole by the guard (fail closed).
  return {patient::v1::PatientRegistered::descriptor(),
          patient::v1::PatientLinked::descriptor(),
          patient::v1::PatientsMerged::descriptor(),
          patient::v1::PatientsUnmerged::descriptor(),
          patient::v1::ReviewTaskCreated::descriptor(),
          patient::v1::ReviewTaskResolved::descriptor(),
          records::v1::EncounterRecorded::descriptor(),
          records::v1::DocumentFiled::descriptor(),
          records::v1::ReferralChanged::descriptor(),
          prescriptions::v1::PrescriptionChanged::descriptor(),
          labs::v1::ReportChanged::descriptor(),
          labs::v1::CriticalResult::descriptor(),
          labs::v1::ResultReused::descriptor(),
          audit::v1::AccessRecorded::descriptor()};
}

std::vector<std::string> ClinicalTopics() {
  return {"meridian.patient.v1", "meridian.records.v1", "meridian.prescriptions.v1",
          "meridian.labs.v1", "meridian.audit.v1"};
}

Pipeline::Pipeline(xref::XrefStore* xrefs, consent::Checker* consent,
                   const deid::Deidentifier* guard, kafka::Publisher* publisher,
                   PipelineOptions options)
    : xrefs_(xrefs),
      consent_(consent),
      guard_(guard),
      publisher_(publisher),
      options_(std::move(options)) {}

absl::Status Pipeline::Handle(const kafka::ConsumedMessage& message) {
  MERIDIAN_ASSIGN_OR_RETURN(events::v1::EventEnvelope event, outbox::ParseEnvelope(message));
  // Whose event: the regional ID it carries, else the one the patient
  // index's links give its "institution/local ID" key.
  std::string regional = event.regional_patient_id();
  if (regional.empty()) {
    std::vector<std::string> parts = absl::StrSplit(event.key(), absl::MaxSplits('/', 1));
    if (parts.size() == 2) {
      MERIDIAN_ASSIGN_OR_RETURN(regional, xrefs_->RegionalIdOf({parts[0], parts[1]}));
    }
  }
  if (regional.empty()) {
    const std::string what =
        absl::StrCat("event ", event.event_id(), ": patient not known to the patient index yet");
    const absl::Time happened = absl::FromUnixSeconds(event.occurred_at().seconds());
    if (options_.clock() - happened < options_.link_grace) return absl::UnavailableError(what);
    return absl::FailedPreconditionError(what);
  }
  MERIDIAN_ASSIGN_OR_RETURN(
      consent::Decision decision,
      consent_->Check({.accessor = options_.recipient,
                       .regional_id = regional,
                       .category = CategoryOf(message.topic, event.type()),
                       .purpose = options_.purpose}));
  if (!decision.permitted()) {
    ++withheld_;
    return absl::OkStatus();  // the patient's choice: nothing leaves
  }
  // The envelope and, through its Any, the payload; every date is judged
  // at the event's time.
  event.set_regional_patient_id(regional);
  MERIDIAN_RETURN_IF_ERROR(guard_->Apply(
      {.id = regional,
       .as_of = event.has_occurred_at() ? absl::FromUnixSeconds(event.occurred_at().seconds())
                                        : absl::InfinitePast(),
       .names = {}},
      &event));
  const kafka::Message out{options_.output_topic, event.regional_patient_id(),
                           event.SerializeAsString(), {}};
  absl::Status published = publisher_->PublishBatch({out}, options_.publish_timeout);
  if (!published.ok()) return absl::UnavailableError(published.message());
  ++forwarded_;
  return absl::OkStatus();
}

}  // namespace meridian::deidstream
