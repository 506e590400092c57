// meridian-fhir-import: imports FHIR R4 JSON files (Bundles of any type and
// single resources) as one institution, through the services' gRPC APIs
// with that institution's certificate (tools/fhir/fhir_import.h says what
// each resource becomes). Prints one JSON report: every resource read is
// counted as sent (accepted or rejected by the service, with its code and
// message), merged into another one, not taken (with why) or an error (with
// its file, entry and Type/id). Exit code 0 only when nothing was rejected
// and nothing was in error.
//
//   eval "$(tools/meridian env)"
//   meridian-fhir-import --as=city-hosp-1 \
//       [--organisation=Organization/f001=city-hosp-1,...] [--dry_run=true]
//       [--link_wait=15s] FILE...
#include <iostream>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/config/config.h"
#include "libs/server/client.h"
#include "meridian/consent/v1/consent.grpc.pb.h"
#include "meridian/labs/v1/labs.grpc.pb.h"
#include "meridian/patient/v1/patient_index.grpc.pb.h"
#include "meridian/prescriptions/v1/prescriptions.grpc.pb.h"
#include "meridian/records/v1/records.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tools/fhir/fhir_import.h"

namespace {

using meridian::fhir::Action;
using nlohmann::json;

// The stubs of the services the requests go to, all as one institution.
struct Clients {
  std::unique_ptr<meridian::patient::v1::PatientIndex::Stub> patients;
  std::unique_ptr<meridian::records::v1::Records::Stub> records;
  std::unique_ptr<meridian::labs::v1::LabResults::Stub> labs;
  std::unique_ptr<meridian::prescriptions::v1::Prescriptions::Stub> prescriptions;
  std::unique_ptr<meridian::consent::v1::Consent::Stub> consent;
};

// Sends one planned request; the service's status.
grpc::Status Send(Clients& c, const Action& a) {
  auto ctx = meridian::server::NewContext(absl::Seconds(30));
  return std::visit(
      [&](const auto& req) -> grpc::Status {
        using T = std::decay_t<decltype(req)>;
        if constexpr (std::is_same_v<T, meridian::patient::v1::RegisterPatientRequest>) {
          meridian::patient::v1::RegisterPatientResponse resp;
          return c.patients->RegisterPatient(ctx.get(), req, &resp);
        } else if constexpr (std::is_same_v<T, meridian::records::v1::Encounter>) {
          meridian::records::v1::PushResult resp;
          return c.records->PushEncounter(ctx.get(), req, &resp);
        } else if constexpr (std::is_same_v<T, meridian::records::v1::ClinicalDocument>) {
          meridian::records::v1::PushResult resp;
          return c.records->PushDocument(ctx.get(), req, &resp);
        } else if constexpr (std::is_same_v<T, meridian::labs::v1::LabReport>) {
          meridian::labs::v1::PushResult resp;
          return c.labs->PushReport(ctx.get(), req, &resp);
        } else if constexpr (std::is_same_v<T,
                                            meridian::prescriptions::v1::IssuePrescriptionRequest>) {
          meridian::prescriptions::v1::IssuePrescriptionResponse resp;
          grpc::Status s = c.prescriptions->IssuePrescription(ctx.get(), req, &resp);
          if (s.ok() && resp.outcome() == meridian::prescriptions::v1::REFUSED) {
            return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                "refused by the safety checks (a contraindication)");
          }
          return s;
        } else {
          meridian::consent::v1::Directive resp;
          return c.consent->ImportFhirConsent(ctx.get(), req, &resp);
        }
      },
      a.request);
}

// gRPC's codes are absl's, number for number.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace meridian;
  // FILE arguments, then the --name=value settings.
  std::vector<std::string> files;
  std::vector<char*> flags = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind("--", 0) == 0 || std::string(argv[i]) == "-h") {
      flags.push_back(argv[i]);
    } else {
      files.push_back(argv[i]);
    }
  }
  config::Reader cfg = config::Reader::FromProcess(static_cast<int>(flags.size()), flags.data());
  const std::string as = cfg.RequiredString("AS");
  const std::string organisation_map = cfg.String("ORGANISATION", "");
  const bool dry_run = cfg.Bool("DRY_RUN", false);
  const absl::Duration link_wait = cfg.Duration("LINK_WAIT", absl::Seconds(15));
  const std::string certs = cfg.String("CERTS_DIR", "");
  const std::string ca = cfg.String("TLS_CA", certs + "/ca.pem");
  const std::string addrs[] = {
      cfg.String("PATIENT_INDEX_GRPC_ADDR", "127.0.0.1:25051"),
      cfg.String("RECORDS_GRPC_ADDR", "127.0.0.1:25052"),
      cfg.String("LAB_RESULTS_GRPC_ADDR", "127.0.0.1:25055"),
      cfg.String("PRESCRIPTIONS_GRPC_ADDR", "127.0.0.1:25054"),
      cfg.String("CONSENT_GRPC_ADDR", "127.0.0.1:25053")};
  cfg.ExitIfInvalid();
  if (files.empty()) {
    std::cerr << "usage: meridian-fhir-import --as=ORGANISATION [--organisation=REF=ID,...]"
                 " [--dry_run=true] FILE...\n";
    return 2;
  }

  fhir::Options options{.institution_id = as};
  for (absl::string_view pair : absl::StrSplit(organisation_map, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    options.organisations[kv.first] = kv.second;
  }
  fhir::Importer importer(options);
  for (const std::string& file : files) {
    absl::StatusOr<std::string> text = config::ReadFile(file);
    if (!text.ok()) {
      std::cerr << "meridian-fhir-import: " << text.status().message() << "\n";
      return 2;
    }
    importer.AddFile(file.substr(file.find_last_of('/') + 1), *text);
  }
  fhir::Plan plan = importer.Build();

  Clients clients;
  if (!dry_run) {
    server::ClientTls tls{ca, certs + "/" + as + ".pem", certs + "/" + as + ".key"};
    std::shared_ptr<grpc::Channel> channels[5];
    for (int i = 0; i < 5; ++i) {
      auto ch = server::MakeChannel(addrs[i], tls);
      if (!ch.ok()) {
        std::cerr << "meridian-fhir-import: " << ch.status().message() << "\n";
        return 2;
      }
      channels[i] = *ch;
    }
    clients.patients = patient::v1::PatientIndex::NewStub(channels[0]);
    clients.records = records::v1::Records::NewStub(channels[1]);
    clients.labs = labs::v1::LabResults::NewStub(channels[2]);
    clients.prescriptions = prescriptions::v1::Prescriptions::NewStub(channels[3]);
    clients.consent = consent::v1::Consent::NewStub(channels[4]);
  }

  json report = {{"files", files.size()}, {"resources", plan.resources},
                 {"as", as}, {"dry_run", dry_run}};
  absl::btree_map<std::string, absl::btree_map<std::string, int>> calls;
  json rejected = json::array(), notes = json::array();
  for (const Action& a : plan.actions) {
    const std::string call = fhir::RequestName(a.request);
    for (const std::string& n : a.notes) notes.push_back({{"at", a.at.ToString()}, {"note", n}});
    if (dry_run) {
      ++calls[call]["planned"];
      continue;
    }
    // The services learn a new patient's link from the patient index's
    // events, a moment after RegisterPatient answers: a record for a
    // patient registered just now may be refused as unknown for that
    // moment, so NOT_FOUND is tried again for a while.
    grpc::Status s = Send(clients, a);
    for (absl::Duration wait = absl::Milliseconds(100), waited;
         s.error_code() == grpc::StatusCode::NOT_FOUND && waited < link_wait; waited += wait) {
      absl::SleepFor(wait);
      s = Send(clients, a);
    }
    if (s.ok()) {
      ++calls[call]["accepted"];
    } else {
      ++calls[call]["rejected"];
      rejected.push_back({{"at", a.at.ToString()}, {"call", call},
                          {"code", CodeName(s.error_code())}, {"message", s.error_message()}});
    }
  }
  report["calls"] = calls;
  absl::btree_map<std::string, int> not_taken_by_type;
  json not_taken = json::array(), merged = json::array(), errors = json::array();
  for (const auto& o : plan.not_taken) {
    ++not_taken_by_type[o.at.type.empty() ? "(no resource)" : o.at.type];
    not_taken.push_back({{"at", o.at.ToString()}, {"why", o.text}});
  }
  for (const auto& o : plan.merged) merged.push_back({{"at", o.at.ToString()}, {"into", o.text}});
  for (const auto& o : plan.errors) errors.push_back({{"at", o.at.ToString()}, {"error", o.text}});
  report["not_taken_by_type"] = not_taken_by_type;
  report["merged"] = merged;
  report["not_taken"] = not_taken;
  report["rejected"] = rejected;
  report["errors"] = errors;
  report["notes"] = notes;
  std::cout << report.dump(2) << std::endl;
  return rejected.empty() && errors.empty() ? 0 : 1;
}
