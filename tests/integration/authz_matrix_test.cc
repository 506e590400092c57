// The authorisation matrix, against the running platform (tools/meridian
// up): every RPC of every service's API (enumerated from the generated
// descriptors, so a new RPC without a row here fails the test) called by
// every kind of caller — an institution of each role, a platform service,
// the patient portal — and by callers that must not get in at all: no
// client certificate, a certificate from another CA, an expired one, one
// revoked by the CA (in the CRL the services load), and a valid one naming
// no organisation of the directory. The expected table is
// the policy; any difference fails, an unexpected allow first of all.
//
// A call is "allowed" when it gets past authorisation: any status but
// UNAUTHENTICATED, PERMISSION_DENIED or a refused TLS handshake
// (UNAVAILABLE). Requests are empty messages, which every handler refuses
// as INVALID_ARGUMENT after authorising (or answers harmlessly), so the
// test changes nothing on the platform.
#include <iostream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "libs/server/client.h"
#include "libs/server/testing.h"
#include "meridian/analytics/v1/analytics.grpc.pb.h"
#include "meridian/consent/v1/consent.grpc.pb.h"
#include "meridian/labs/v1/labs.grpc.pb.h"
#include "meridian/patient/v1/patient_index.grpc.pb.h"
#include "meridian/prescriptions/v1/prescriptions.grpc.pb.h"
#include "meridian/records/v1/records.grpc.pb.h"

namespace meridian {
namespace {

// Callers: a name for the table, and the development certificate they use
// ("" for none).
struct Who {
  const char* name;
  const char* certificate;
};
constexpr Who kCallers[] = {
    {"hospital", "city-hosp-1"},        {"township", "thc-riverside"},
    {"pharmacy", "pharm-central"},      {"lab", "lab-regional"},
    {"authority", "health-commission"}, {"operator", "meridian-ops"},
    {"portal", "patient-portal"},       {"service", "svc-records"},
    {"no-certificate", ""},             {"other-ca", "rogue-client"},
    {"expired", "expired-client"},      {"revoked", "revoked-client"},
    {"not-in-directory", "privacy-auditor"},
};

// The policy: RPC -> the callers allowed. "care" stands for hospital and
// township (both are care institutions).
const std::map<std::string, std::set<std::string>>& Policy() {
  static const auto* policy = new std::map<std::string, std::set<std::string>>{
      // Patient index.
      {"meridian.patient.v1.PatientIndex/RegisterPatient", {"care", "pharmacy", "lab"}},
      {"meridian.patient.v1.PatientIndex/RegisterPatients", {"care", "pharmacy", "lab"}},
      {"meridian.patient.v1.PatientIndex/GetPatient", {"care", "operator"}},
      {"meridian.patient.v1.PatientIndex/GetCrossReferences",
       {"care", "pharmacy", "lab", "operator"}},
      {"meridian.patient.v1.PatientIndex/SearchPatients", {"care", "operator"}},
      {"meridian.patient.v1.PatientIndex/ListReviewTasks", {"operator"}},
      {"meridian.patient.v1.PatientIndex/ResolveReviewTask", {"operator"}},
      {"meridian.patient.v1.PatientIndex/MergePatients", {"operator"}},
      {"meridian.patient.v1.PatientIndex/UnmergePatients", {"operator"}},
      {"meridian.patient.v1.PatientIndex/UnlinkRecord", {"operator"}},
      // Records.
      {"meridian.records.v1.Records/PushEncounter", {"care"}},
      {"meridian.records.v1.Records/PushDocument", {"care"}},
      {"meridian.records.v1.Records/PushReferral", {"care"}},
      {"meridian.records.v1.Records/PushRecords", {"care"}},
      {"meridian.records.v1.Records/UpdateReferralStatus", {"care"}},
      {"meridian.records.v1.Records/GetPatientRecord", {"care"}},
      {"meridian.records.v1.Records/GetRecordHistory", {"care"}},
      // Consent.
      {"meridian.consent.v1.Consent/Grant", {"portal", "care"}},
      {"meridian.consent.v1.Consent/Revoke", {"portal", "care"}},
      {"meridian.consent.v1.Consent/ListDirectives", {"portal", "care", "operator"}},
      {"meridian.consent.v1.Consent/ImportFhirConsent", {"care"}},
      {"meridian.consent.v1.Consent/Check", {"service"}},
      {"meridian.consent.v1.Consent/CheckAll", {"service"}},
      {"meridian.consent.v1.Consent/ListAccesses", {"portal", "operator"}},
      // Prescriptions.
      {"meridian.prescriptions.v1.Prescriptions/IssuePrescription", {"care"}},
      {"meridian.prescriptions.v1.Prescriptions/CheckPrescription", {"care"}},
      {"meridian.prescriptions.v1.Prescriptions/PushPrescriptions", {"care"}},
      {"meridian.prescriptions.v1.Prescriptions/VerifyPrescription", {"care", "pharmacy"}},
      {"meridian.prescriptions.v1.Prescriptions/CancelPrescription", {"care"}},
      {"meridian.prescriptions.v1.Prescriptions/LookupPrescription", {"pharmacy"}},
      {"meridian.prescriptions.v1.Prescriptions/DispensePrescription", {"pharmacy"}},
      {"meridian.prescriptions.v1.Prescriptions/GetPatientPrescriptions", {"care"}},
      // Lab results.
      {"meridian.labs.v1.LabResults/PushReport", {"lab", "care"}},
      {"meridian.labs.v1.LabResults/PushReports", {"lab", "care"}},
      {"meridian.labs.v1.LabResults/GetReportHistory", {"lab", "care"}},
      {"meridian.labs.v1.LabResults/GetPatientResults", {"care"}},
      {"meridian.labs.v1.LabResults/GetSeries", {"care"}},
      {"meridian.labs.v1.LabResults/FindReusableResults", {"care"}},
      // Analytics: the authority's aggregates, and the operators'.
      {"meridian.analytics.v1.Analytics/Query", {"authority", "operator"}},
      {"meridian.analytics.v1.Analytics/GetIndicator", {"authority", "operator"}},
  };
  return *policy;
}

bool Allowed(const std::string& method, const std::string& caller) {
  const std::set<std::string>& who = Policy().at(method);
  const bool care = caller == "hospital" || caller == "township";
  return who.contains(caller) || (care && who.contains("care"));
}

// The services, the proto service each serves, and a message of its API's
// file (which links the file's descriptors into the binary).
struct Api {
  std::string service;
  std::string proto_name;
  const google::protobuf::FileDescriptor* file;
};
std::vector<Api> Apis() {
  return {
      {"patient-index", "meridian.patient.v1.PatientIndex",
       patient::v1::RegisterPatientRequest::descriptor()->file()},
      {"records", "meridian.records.v1.Records", records::v1::Encounter::descriptor()->file()},
      {"consent", "meridian.consent.v1.Consent", consent::v1::GrantRequest::descriptor()->file()},
      {"prescriptions", "meridian.prescriptions.v1.Prescriptions",
       prescriptions::v1::IssuePrescriptionRequest::descriptor()->file()},
      {"lab-results", "meridian.labs.v1.LabResults", labs::v1::LabReport::descriptor()->file()},
      {"analytics", "meridian.analytics.v1.Analytics",
       analytics::v1::QueryRequest::descriptor()->file()},
  };
}

std::shared_ptr<grpc::Channel> ChannelAs(const std::string& service, const Who& who) {
  // No certificate: TLS with the regional CA, no client certificate.
  server::ClientTls tls = server::testing::TlsFor(who.certificate[0] == '\0' ? "meridian-ops"
                                                                            : who.certificate);
  if (who.certificate[0] == '\0') tls.cert_file = tls.key_file = "";
  absl::StatusOr<std::shared_ptr<grpc::Channel>> ch =
      server::MakeChannel(server::testing::ServiceAddress(service), tls);
  EXPECT_TRUE(ch.ok()) << ch.status();
  return *ch;
}

// One call of `method` (any kind: one empty message, then half-close) and
// its status. A generic bidirectional call speaks the same wire protocol as
// a unary or client-streaming one.
grpc::Status Call(grpc::GenericStub& stub, const std::string& method) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&ctx, "/" + method, &cq);
  void* tag;
  bool ok;
  auto step = [&](intptr_t want) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (step(1)) {
    grpc::Slice nothing;  // an empty message: every field unset
    grpc::ByteBuffer empty(&nothing, 1);
    call->Write(empty, reinterpret_cast<void*>(2));
    if (step(2)) {
      call->WritesDone(reinterpret_cast<void*>(3));
      step(3);
      grpc::ByteBuffer response;
      call->Read(&response, reinterpret_cast<void*>(4));
      step(4);
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  return status;
}

// Whether the call got past authorisation. A refused TLS handshake (no
// certificate, another CA, expired, revoked) surfaces as UNAVAILABLE; for
// any other caller UNAVAILABLE came from behind the door (a dependency) and
// counts as in, so a wrongly admitted caller cannot hide behind it.
bool GotIn(const std::string& who, const grpc::Status& s) {
  static const std::set<std::string> kRefusedAtHandshake = {"no-certificate", "other-ca",
                                                            "expired", "revoked"};
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) return !kRefusedAtHandshake.contains(who);
  return s.error_code() != grpc::StatusCode::UNAUTHENTICATED &&
         s.error_code() != grpc::StatusCode::PERMISSION_DENIED;
}

TEST(AuthzMatrixTest, EveryRpcTimesEveryCallerIsAsThePolicySays) {
  std::set<std::string> seen;
  std::vector<std::string> unexpected_allows, unexpected_denials;
  int calls = 0;
  for (const auto& [service, proto_name, file] : Apis()) {
    const google::protobuf::ServiceDescriptor* descriptor =
        file->pool()->FindServiceByName(proto_name);
    ASSERT_NE(descriptor, nullptr) << proto_name;
    for (const Who& who : kCallers) {
      grpc::GenericStub stub(ChannelAs(service, who));
      for (int m = 0; m < descriptor->method_count(); ++m) {
        const std::string method =
            absl::StrCat(proto_name, "/", descriptor->method(m)->name());
        seen.insert(method);
        ASSERT_TRUE(Policy().contains(method)) << method << " has no row in the policy";
        const grpc::Status s = Call(stub, method);
        ++calls;
        const bool in = GotIn(who.name, s);
        const std::string line =
            absl::StrCat(method, " as ", who.name, ": ", s.error_code(), " ", s.error_message());
        if (in && !Allowed(method, who.name)) unexpected_allows.push_back(line);
        if (!in && Allowed(method, who.name)) unexpected_denials.push_back(line);
      }
    }
  }
  EXPECT_EQ(seen.size(), Policy().size()) << "the policy names RPCs the services do not have";
  EXPECT_EQ(calls, static_cast<int>(Policy().size() * std::size(kCallers)));
  EXPECT_TRUE(unexpected_allows.empty()) << absl::StrJoin(unexpected_allows, "\n");
  EXPECT_TRUE(unexpected_denials.empty()) << absl::StrJoin(unexpected_denials, "\n");
  std::cout << calls << " calls: " << Policy().size() << " RPCs x " << std::size(kCallers)
            << " callers, " << unexpected_allows.size() << " unexpected allows, "
            << unexpected_denials.size() << " unexpected denials" << std::endl;
}

}  // namespace
}  // namespace meridian
