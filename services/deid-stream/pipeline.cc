#include "services/deid-stream/pipeline.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
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

absl::StatusOr<Pipeline::Parsed> Pipeline::Parse(const kafka::ConsumedMessage& message) {
  MERIDIAN_ASSIGN_OR_RETURN(events::v1::EventEnvelope event, outbox::ParseEnvelope(message));
  // Whose event: the regional ID it carries, else the one the patient
  // index's links give its "institution/local ID" key.
  Parsed parsed{std::move(event), std::nullopt};
  if (parsed.event.regional_patient_id().empty()) {
    std::vector<std::string> parts =
        absl::StrSplit(parsed.event.key(), absl::MaxSplits('/', 1));
    if (parts.size() == 2) parsed.local = xref::LocalId{parts[0], parts[1]};
  }
  return parsed;
}

absl::StatusOr<Pipeline::Whose> Pipeline::Identify(const kafka::ConsumedMessage& message) {
  MERIDIAN_ASSIGN_OR_RETURN(Parsed parsed, Parse(message));
  std::string regional = parsed.event.regional_patient_id();
  if (parsed.local) {
    MERIDIAN_ASSIGN_OR_RETURN(regional, xrefs_->RegionalIdOf(*parsed.local));
  }
  return Identified(std::move(parsed), std::move(regional), message);
}

absl::Time Pipeline::FirstMiss(const std::string& event_id, absl::Time now) {
  absl::MutexLock lock(&miss_mu_);
  // Bounded: past this many events held at once, start counting afresh
  // (each then gets a new grace rather than memory without end).
  if (first_miss_.size() >= 100000) first_miss_.clear();
  const absl::Time first = first_miss_.try_emplace(event_id, now).first->second;
  misses_.store(static_cast<int64_t>(first_miss_.size()), std::memory_order_relaxed);
  return first;
}

void Pipeline::ForgetMiss(const std::string& event_id) {
  absl::MutexLock lock(&miss_mu_);
  first_miss_.erase(event_id);
  misses_.store(static_cast<int64_t>(first_miss_.size()), std::memory_order_relaxed);
}

absl::StatusOr<Pipeline::Whose> Pipeline::Identified(Parsed parsed, std::string regional,
                                                     const kafka::ConsumedMessage& message) {
  events::v1::EventEnvelope& event = parsed.event;
  if (regional.empty()) {
    const std::string what =
        absl::StrCat("event ", event.event_id(), ": patient not known to the patient index yet");
    const absl::Time now = options_.clock();
    const absl::Time since = std::max(absl::FromUnixSeconds(event.occurred_at().seconds()),
                                      FirstMiss(event.event_id(), now));
    if (now - since < options_.link_grace) return absl::UnavailableError(what);
    ForgetMiss(event.event_id());
    return absl::FailedPreconditionError(what);
  }
  if (misses_.load(std::memory_order_relaxed) > 0) ForgetMiss(event.event_id());
  consent::v1::DataCategory category = CategoryOf(message.topic, event.type());
  return Whose{std::move(event), std::move(regional), category};
}

absl::StatusOr<std::optional<kafka::Message>> Pipeline::Release(Whose whose, bool permitted) {
  if (!permitted) return std::nullopt;  // the patient's choice: nothing leaves
  // The envelope and, through its Any, the payload; every date is judged
  // at the event's time.
  events::v1::EventEnvelope& event = whose.event;
  event.set_regional_patient_id(whose.regional);
  MERIDIAN_RETURN_IF_ERROR(guard_->Apply(
      {.id = whose.regional,
       .as_of = event.has_occurred_at() ? absl::FromUnixSeconds(event.occurred_at().seconds())
                                        : absl::InfinitePast(),
       .names = {}},
      &event));
  return kafka::Message{options_.output_topic, event.regional_patient_id(),
                        event.SerializeAsString(), {}};
}

absl::Status Pipeline::Publish(const std::vector<kafka::Message>& out, int withheld) {
  if (!out.empty()) {
    absl::Status published = publisher_->PublishBatch(out, options_.publish_timeout);
    if (!published.ok()) return absl::UnavailableError(published.message());
  }
  forwarded_ += static_cast<int64_t>(out.size());
  withheld_ += withheld;
  return absl::OkStatus();
}

absl::Status Pipeline::Handle(const kafka::ConsumedMessage& message) {
  MERIDIAN_ASSIGN_OR_RETURN(Whose whose, Identify(message));
  MERIDIAN_ASSIGN_OR_RETURN(consent::Decision decision,
                            consent_->Check({.accessor = options_.recipient,
                                             .regional_id = whose.regional,
                                             .category = whose.category,
                                             .purpose = options_.purpose}));
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<kafka::Message> out,
                            Release(std::move(whose), decision.permitted()));
  if (!out) return Publish({}, 1);
  return Publish({*std::move(out)}, 0);
}

absl::Status Pipeline::HandleBatch(const std::vector<kafka::ConsumedMessage>& messages) {
  std::vector<Whose> events;
  events.reserve(messages.size());
  // Each patient's categories in the batch, in first-seen order.
  absl::flat_hash_map<std::string, std::vector<consent::v1::DataCategory>> categories;
  // Whose events: one lookup for every event that carries no regional ID.
  std::vector<Parsed> parsed;
  std::vector<xref::LocalId> locals;
  parsed.reserve(messages.size());
  for (const kafka::ConsumedMessage& m : messages) {
    MERIDIAN_ASSIGN_OR_RETURN(Parsed p, Parse(m));
    if (p.local) locals.push_back(*p.local);
    parsed.push_back(std::move(p));
  }
  std::vector<std::string> found;
  if (!locals.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(found, xrefs_->RegionalIdsOf(locals));
  }
  if (found.size() != locals.size()) {
    return absl::InternalError("xref: RegionalIdsOf answered for other IDs than asked");
  }
  size_t next_found = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    std::string regional = parsed[i].local ? std::move(found[next_found++])
                                           : parsed[i].event.regional_patient_id();
    MERIDIAN_ASSIGN_OR_RETURN(Whose whose,
                              Identified(std::move(parsed[i]), std::move(regional), messages[i]));
    std::vector<consent::v1::DataCategory>& wanted = categories[whose.regional];
    if (std::find(wanted.begin(), wanted.end(), whose.category) == wanted.end()) {
      wanted.push_back(whose.category);
    }
    events.push_back(std::move(whose));
  }
  // One consent round trip per patient.
  absl::flat_hash_map<std::pair<std::string, int>, bool> permitted;
  for (const auto& [regional, wanted] : categories) {
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<consent::Decision> decisions,
                              consent_->CheckAll({.accessor = options_.recipient,
                                                  .regional_id = regional,
                                                  .purpose = options_.purpose},
                                                 wanted));
    if (decisions.size() != wanted.size()) {
      return absl::InternalError("consent: CheckAll answered for other categories than asked");
    }
    for (size_t i = 0; i < wanted.size(); ++i) {
      permitted[{regional, static_cast<int>(wanted[i])}] = decisions[i].permitted();
    }
  }
  std::vector<kafka::Message> out;
  int withheld = 0;
  for (Whose& whose : events) {
    const bool allowed = permitted.at({whose.regional, static_cast<int>(whose.category)});
    MERIDIAN_ASSIGN_OR_RETURN(std::optional<kafka::Message> released,
                              Release(std::move(whose), allowed));
    if (released) {
      out.push_back(*std::move(released));
    } else {
      ++withheld;
    }
  }
  return Publish(out, withheld);
}

}  // namespace meridian::deidstream
