// The match decision for one incoming record against its blocked candidates:
// deterministic on an equal resident ID, else Fellegi-Sunter with thresholds.
// Knows nothing of storage: the caller supplies the candidates.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_LINKER_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_LINKER_H_

#include <functional>
#include <vector>

#include "services/patient-index/match_record.h"
#include "services/patient-index/model.h"

namespace meridian::patient {

struct MatchOptions {
  // Match probability at or above which a record is linked automatically.
  double auto_link_threshold = 0.99;
  // At or above this (and below auto-link): a new identity plus a review task.
  double review_threshold = 0.5;
  // Caps, so a common key cannot turn a lookup into a scan. A registration
  // is matched against the newest `max_candidates_per_key` records of each
  // key; EM trains, and a search looks, wider (`wide_candidates_per_key`):
  // trained on fewer near misses, the model loses precision, and a search
  // may be after an older record. At 1,000,000 records, matching on 20
  // after training on 50 scores 36% fewer pairs than 50/50 and is better on
  // precision, recall and review tasks alike (BENCHMARKS.md).
  int max_candidates_per_key = 20;
  int wide_candidates_per_key = 50;
  int max_candidates = 300;
  // The twins / relatives rules below. Off only to compare the bare
  // Fellegi-Sunter engine with other tools on benchmark data whose
  // "duplicates" include exactly such cases.
  bool safety_rules = true;
};

enum class Decision {
  kMatchedDeterministically,  // same valid resident ID
  kAutoLinked,                // score at or above the upper threshold
  kNewWithReview,             // between the thresholds
  kNew,                       // below the lower threshold, or no candidate
};

// The decisions that put a record in its candidate's identity.
inline bool Links(Decision d) {
  return d == Decision::kAutoLinked || d == Decision::kMatchedDeterministically;
}

struct MatchResult {
  Decision decision = Decision::kNew;
  // The candidate linked to (auto / deterministic) or proposed for review.
  const MatchRecord* candidate = nullptr;
  Score score;  // of that candidate; empty fields when there is none
  int candidates_scored = 0;
};

// Pairs a reviewer decided to keep apart are never auto-linked.
using KeptApart = std::function<bool(const MatchRecord& a, const MatchRecord& b)>;

// Rules on top of the score: two different valid resident IDs never
// auto-link; a clear given-name disagreement (twins: same surname, birth date
// and address) or a birth date that is not even close (relatives sharing a
// name and an address) never auto-links unless a personal identifier
// (insurance or health card number) agrees exactly; kept-apart pairs never
// auto-link. Such a candidate can still open a review task.
MatchResult Decide(const Model& model, const MatchRecord& record,
                   const std::vector<const MatchRecord*>& candidates,
                   const MatchOptions& options,
                   const KeptApart& kept_apart = nullptr);

const char* DecisionName(Decision d);

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_LINKER_H_
