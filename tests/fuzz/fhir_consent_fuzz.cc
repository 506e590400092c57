// consent::DirectiveFromFhirConsent on arbitrary bytes: never crashes; a
// rejection is INVALID_ARGUMENT; an accepted Consent comes from its FHIR id
// and goes to everyone or to mapped institutions only (never to an empty
// list, which the registry would refuse).
#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "services/consent/fhir_consent.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  const std::map<std::string, std::string> orgs = {{"Organization/f001", "city-hosp-1"}};
  auto directive = meridian::consent::DirectiveFromFhirConsent(json, orgs);
  if (!directive.ok()) {
    FUZZ_CHECK(directive.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  const auto& r = directive->recipients();
  FUZZ_CHECK(r.everyone() || r.organisations().ids_size() > 0);
  for (const auto& id : r.organisations().ids()) FUZZ_CHECK(id == "city-hosp-1");
  FUZZ_CHECK(absl::StartsWith(directive->source_reference(), "Consent/"));
  return 0;
}
