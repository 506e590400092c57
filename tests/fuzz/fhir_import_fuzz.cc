// The FHIR importer on arbitrary bytes as a file: never crashes, and every
// resource it read is accounted for exactly once (a request, merged, not
// taken, or an error).
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "tests/fuzz/fuzz_check.h"
#include "tools/fhir/fhir_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fhir::Importer importer(
      {.institution_id = "city-hosp-1",
       .organisations = {{"Organization/hl7", "city-hosp-1"}}});
  importer.AddFile("fuzz.json",
                   absl::string_view(reinterpret_cast<const char*>(data), size));
  const meridian::fhir::Plan plan = importer.Build();
  FUZZ_CHECK(plan.actions.size() + plan.merged.size() + plan.not_taken.size() +
                 plan.errors.size() ==
             static_cast<size_t>(plan.resources));
  return 0;
}
