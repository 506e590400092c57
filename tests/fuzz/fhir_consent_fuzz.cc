// consent::DirectiveFromFhirConsent on arbitrary bytes: never crashes; an
// accepted Consent names a patient and an institution.
#include <cstdint>
#include <map>
#include <string>

#include "services/consent/fhir_consent.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  const std::map<std::string, std::string> orgs = {{"Organization/f001", "city-hosp-1"}};
  auto directive = meridian::consent::DirectiveFromFhirConsent(json, orgs);
  if (!directive.ok()) {
    FUZZ_CHECK(directive.status().code() == absl::StatusCode::kInvalidArgument);
  }
  return 0;
}
