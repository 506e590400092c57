// The blocking caps of MatchOptions from settings, read the same way by the
// service and by the matching benchmark (tools/bench mpi).
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_MATCH_SETTINGS_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_MATCH_SETTINGS_H_

#include "libs/config/config.h"
#include "services/patient-index/linker.h"

namespace meridian::patient {

// MAX_CANDIDATES_PER_KEY (matching a registration), WIDE_CANDIDATES_PER_KEY
// (training EM, searching) and MAX_CANDIDATES (in all); each defaults to
// `options`' value. A value out of range is reported by cfg.ExitIfInvalid.
inline void ReadBlockingCaps(config::Reader& cfg, MatchOptions& options) {
  options.max_candidates_per_key = static_cast<int>(
      cfg.Int("MAX_CANDIDATES_PER_KEY", options.max_candidates_per_key, 1, 10000));
  options.wide_candidates_per_key = static_cast<int>(
      cfg.Int("WIDE_CANDIDATES_PER_KEY", options.wide_candidates_per_key, 1, 10000));
  options.max_candidates =
      static_cast<int>(cfg.Int("MAX_CANDIDATES", options.max_candidates, 1, 100000));
}

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_MATCH_SETTINGS_H_
