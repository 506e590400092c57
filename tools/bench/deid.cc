// meridian_bench deid: the privacy guard's throughput against a passthrough
// of the same events.
//
// N synthetic events of the clinical topics (patient registrations,
// encounters, prescriptions, lab reports, in equal shares) about N/10
// people (--patients), each an
// EventEnvelope with its payload packed in an Any, serialized as they sit on
// Kafka. One pass de-identifies every event the way the de-identified
// stream does (parse the envelope and its payload, apply the policy,
// serialize both); the passthrough parses and serializes the same envelope
// and payload with no transformation. Runs alternate; medians are printed
// as one JSON object.
#include "tools/bench/commands.h"

#include <algorithm>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/time_util.h"
#include "libs/deid/deid.h"
#include "meridian/events/v1/envelope.pb.h"
#include "meridian/labs/v1/events.pb.h"
#include "meridian/patient/v1/patient_index.pb.h"
#include "meridian/prescriptions/v1/events.pb.h"
#include "meridian/records/v1/events.pb.h"
#include "tools/bench/stats.h"

namespace meridian::bench {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp At(std::mt19937& rng) {
  return TimeUtil::SecondsToTimestamp(1767225600 + static_cast<int64_t>(rng() % 31536000));
}

// One synthetic event of kind `i % 4`, about one of `patients` people.
events::v1::EventEnvelope Event(int i, int patients, std::mt19937& rng) {
  const int person = static_cast<int>(rng() % patients);
  const std::string patient = absl::StrCat("MRN-", 1000000 + person);
  events::v1::EventEnvelope env;
  env.set_event_id(absl::StrCat("00000000-0000-4000-8000-", 100000000000 + i));
  env.set_key(absl::StrCat("city-hosp-1/", patient));
  env.set_source_organisation("city-hosp-1");
  env.set_regional_patient_id(absl::StrCat("6f1c2a7e-0000-4000-8000-", 200000000000 + person));
  env.set_producer("bench");
  *env.mutable_occurred_at() = At(rng);
  switch (i % 4) {
    case 0: {
      patient::v1::RegisterPatientRequest r;
      r.set_local_id(patient);
      auto* d = r.mutable_demographics();
      d->set_family_name("王");
      d->set_given_name("小明");
      d->set_name_pinyin("wang xiaoming");
      d->set_sex(patient::v1::SEX_MALE);
      d->set_birth_date(absl::StrCat(1940 + rng() % 80, "-0", 1 + rng() % 9, "-1", rng() % 9));
      d->set_phone(absl::StrCat("138", 10000000 + rng() % 89999999));
      d->mutable_address()->set_line("幸福路 12 号 3 单元");
      d->mutable_address()->set_district_code("330102");
      d->mutable_address()->set_postcode("310002");
      auto* id = r.add_identifiers();
      id->set_type(patient::v1::RESIDENT_ID);
      id->set_value("11010519491231002X");
      env.set_type("patient.registered");
      env.mutable_payload()->PackFrom(r);
      break;
    }
    case 1: {
      records::v1::EncounterRecorded e;
      e.set_organisation_id("city-hosp-1");
      e.set_version(1);
      auto* enc = e.mutable_encounter();
      enc->set_local_id(absl::StrCat("ENC-", i));
      enc->set_patient_local_id(patient);
      enc->set_encounter_class(records::v1::OUTPATIENT);
      *enc->mutable_start_time() = At(rng);
      enc->set_department("internal medicine");
      enc->set_attending_clinician("DR-17");
      for (const char* code : {"I10", "E11.9"}) {
        auto* dx = enc->add_diagnoses();
        dx->set_icd10_code(code);
        dx->set_description("diagnosis text");
      }
      env.set_type("encounter.recorded");
      env.mutable_payload()->PackFrom(e);
      break;
    }
    case 2: {
      prescriptions::v1::PrescriptionChanged p;
      p.set_prescription_id(env.event_id());
      p.set_organisation_id("city-hosp-1");
      p.set_patient_local_id(patient);
      p.set_status(prescriptions::v1::ISSUED);
      p.set_actor_organisation("city-hosp-1");
      *p.mutable_occurred_at() = At(rng);
      p.add_diagnosis_icd10("J18.9");
      for (const char* atc : {"J01CA04", "N02BE01"}) {
        auto* item = p.add_items();
        item->set_drug_code(absl::StrCat(atc, "-T500"));
        item->set_atc_code(atc);
        item->set_therapy_class("class");
        item->set_antibiotic(atc[0] == 'J');
        item->set_quantity(20);
      }
      env.set_type("prescription.issued");
      env.mutable_payload()->PackFrom(p);
      break;
    }
    default: {
      labs::v1::ReportChanged c;
      c.set_organisation_id("lab-regional");
      c.set_version(1);
      auto* r = c.mutable_report();
      r->set_local_id(absl::StrCat("LR-", i));
      r->set_patient_organisation_id("city-hosp-1");
      r->set_patient_local_id(patient);
      r->set_patient_birth_date("1975-03-02");
      r->set_ordering_clinician("DR-9");
      for (const char* loinc : {"2345-7", "2823-3", "2160-0"}) {
        auto* res = r->add_results();
        res->set_loinc_code(loinc);
        res->set_numeric(5.1);
        res->set_unit("mmol/L");
        res->set_status(labs::v1::FINAL);
        *res->mutable_collected_at() = At(rng);
        *res->mutable_reported_at() = At(rng);
      }
      env.set_type("lab.reported");
      env.mutable_payload()->PackFrom(c);
      break;
    }
  }
  return env;
}

// The payload of `env`, parsed (the generated type its URL names).
std::unique_ptr<google::protobuf::Message> Payload(const events::v1::EventEnvelope& env) {
  const std::string& url = env.payload().type_url();
  const auto* d = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
      url.substr(url.rfind('/') + 1));
  std::unique_ptr<google::protobuf::Message> m(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(d)->New());
  if (!m->ParseFromString(env.payload().value())) Die("payload does not parse");
  return m;
}

}  // namespace

int Deid(config::Reader& cfg) {
  const int n = static_cast<int>(cfg.Int("EVENTS", 100000, 100, 10000000));
  const int runs = static_cast<int>(cfg.Int("RUNS", 5, 1, 50));
  // A region's stream has several events per person (visits, orders,
  // results): by default ten on average. --patients=N: every event a new
  // person (the worst case for the pseudonym cache).
  const int patients = static_cast<int>(cfg.Int("PATIENTS", std::max(1, n / 10), 1, n));
  const std::string policy_file = cfg.String(
      "POLICY", cfg.String("ROOT", ".") + "/deploy/deid/public_health.textproto");
  cfg.ExitIfInvalid();
  absl::StatusOr<privacy::v1::Policy> policy = deid::LoadPolicy(policy_file);
  if (!policy.ok()) Die(policy.status());
  auto guard = deid::Deidentifier::Create(*policy, {{"bench", std::string(32, 'k')}});
  if (!guard.ok()) Die(guard.status());

  std::mt19937 rng(42);
  std::vector<std::string> events;
  events.reserve(n);
  for (int i = 0; i < n; ++i) events.push_back(Event(i, patients, rng).SerializeAsString());

  size_t sink = 0;  // keeps the work from being optimised away
  auto pass = [&](bool transform) {
    const absl::Time start = absl::Now();
    events::v1::EventEnvelope env;
    for (const std::string& bytes : events) {
      if (!env.ParseFromString(bytes)) Die("event does not parse");
      if (transform) {
        // The envelope and, through its Any, the payload.
        absl::Status s = (*guard)->Apply(
            {.id = env.regional_patient_id(),
             .as_of = absl::FromUnixSeconds(env.occurred_at().seconds()),
             .names = {}},
            &env);
        if (!s.ok()) Die(s);
      } else {
        env.mutable_payload()->set_value(Payload(env)->SerializeAsString());
      }
      sink += env.SerializeAsString().size();
    }
    return absl::ToDoubleSeconds(absl::Now() - start);
  };
  pass(true);  // warm the policy's plans and the allocator
  std::vector<double> deid_seconds, passthrough_seconds;
  for (int r = 0; r < runs; ++r) {
    passthrough_seconds.push_back(pass(false));
    deid_seconds.push_back(pass(true));
  }
  const double seconds = Median(deid_seconds);
  const double passthrough = Median(passthrough_seconds);
  std::cout << "{\"benchmark\":\"deid\",\"events\":" << n << ",\"patients\":" << patients
            << ",\"runs\":" << runs
            << ",\"policy\":\"" << policy->purpose() << "\",\"seconds\":" << seconds
            << ",\"events_per_second\":" << n / seconds
            << ",\"passthrough_events_per_second\":" << n / passthrough
            << ",\"ratio\":" << passthrough / seconds << ",\"bytes_out\":" << sink / (2 * runs + 1)
            << "}" << std::endl;
  return 0;
}

}  // namespace meridian::bench
