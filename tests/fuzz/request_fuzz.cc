// The services' request checks, fed requests decoded from arbitrary bytes,
// as the gRPC layer hands them over: patient-index PrepareRegistration,
// records ValidateEncounter and ValidateDocument. The first byte picks the
// request. Never crash; a rejection is INVALID_ARGUMENT and never quotes the
// patient's name.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "meridian/patient/v1/patient_index.pb.h"
#include "meridian/records/v1/records.pb.h"
#include "services/patient-index/patient_index.h"
#include "services/records/validation.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void CheckRejection(const absl::Status& s, const std::vector<std::string>& names) {
  if (s.ok()) return;
  FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  for (const std::string& name : names) {
    // A name of three or more non-ASCII characters (a Han name) is never
    // quoted; ASCII fragments could coincide with the message's own words.
    const bool han = name.size() >= 9 && std::none_of(name.begin(), name.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x80;
    });
    if (han) FUZZ_CHECK(!absl::StrContains(s.message(), name));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char* bytes = reinterpret_cast<const char*>(data) + 1;
  const int n = static_cast<int>(size - 1);
  const absl::Time now = absl::FromCivil(absl::CivilSecond(2026, 12, 5, 12, 0, 0),
                                         absl::UTCTimeZone());
  switch (data[0] % 3) {
    case 0: {
      meridian::patient::v1::RegisterPatientRequest r;
      if (!r.ParseFromArray(bytes, n)) return 0;
      auto prepared = meridian::patient::PrepareRegistration(r, "20261205");
      CheckRejection(prepared.status(),
                     {r.demographics().family_name(), r.demographics().given_name()});
      return 0;
    }
    case 1: {
      meridian::records::v1::Encounter e;
      if (!e.ParseFromArray(bytes, n)) return 0;
      CheckRejection(meridian::records::ValidateEncounter(e, now), {});
      return 0;
    }
    default: {
      meridian::records::v1::ClinicalDocument d;
      if (!d.ParseFromArray(bytes, n)) return 0;
      CheckRejection(meridian::records::ValidateDocument(d, now), {});
      return 0;
    }
  }
}
