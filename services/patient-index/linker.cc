#include "services/patient-index/linker.h"

namespace meridian::patient {

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kMatchedDeterministically:
      return "matched_deterministically";
    case Decision::kAutoLinked:
      return "auto_linked";
    case Decision::kNewWithReview:
      return "new_with_review";
    case Decision::kNew:
      return "new";
  }
  return "new";
}

MatchResult Decide(const Model& model, const MatchRecord& record,
                   const std::vector<const MatchRecord*>& candidates,
                   const MatchOptions& options, const KeptApart& kept_apart) {
  MatchResult result;
  if (!record.resident_id.empty()) {
    for (const MatchRecord* c : candidates) {
      if (c->resident_id == record.resident_id) {
        result.decision = Decision::kMatchedDeterministically;
        result.candidate = c;
        result.score = model.ScorePair(record, *c);
        result.candidates_scored = 1;
        return result;
      }
    }
  }
  const MatchRecord* best_link = nullptr;
  Score best_link_score;
  const MatchRecord* best_any = nullptr;
  Score best_any_score;
  best_link_score.probability = -1;
  best_any_score.probability = -1;
  for (const MatchRecord* c : candidates) {
    Levels levels = Compare(record, *c);
    Score s = model.ScoreLevels(levels, record);
    ++result.candidates_scored;
    if (s.probability > best_any_score.probability) {
      best_any = c;
      best_any_score = s;
    }
    const bool different_resident_ids =
        !record.resident_id.empty() && !c->resident_id.empty();
    // Twins share surname, birth date, address and often a parent's phone;
    // what tells them apart is the given name and their own identifiers. A
    // clear given-name disagreement blocks auto-linking unless an identifier
    // of the person (not of the household) agrees exactly.
    // Likewise a birth date that is not even close (relatives at one
    // address often share a name).
    const bool personal_id_agrees = levels[kOtherId] == 0;
    const bool given_names_differ = levels[kGiven] == 3 && !personal_id_agrees;
    const bool birth_dates_differ =
        levels[kBirthDate] == 3 && !personal_id_agrees;
    if (different_resident_ids || given_names_differ || birth_dates_differ) {
      continue;
    }
    if (kept_apart && kept_apart(record, *c)) continue;
    if (s.probability > best_link_score.probability) {
      best_link = c;
      best_link_score = s;
    }
  }
  if (best_link != nullptr &&
      best_link_score.probability >= options.auto_link_threshold) {
    result.decision = Decision::kAutoLinked;
    result.candidate = best_link;
    result.score = std::move(best_link_score);
  } else if (best_any != nullptr &&
             best_any_score.probability >= options.review_threshold) {
    result.decision = Decision::kNewWithReview;
    result.candidate = best_any;
    result.score = std::move(best_any_score);
  } else if (best_any != nullptr) {
    result.decision = Decision::kNew;
    result.score = std::move(best_any_score);
  }
  return result;
}

}  // namespace meridian::patient
