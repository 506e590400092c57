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
      if (c->resident_id == record.resident_id &&
          !(kept_apart && kept_apart(record, *c))) {
        result.decision = Decision::kMatchedDeterministically;
        result.candidate = c;
        result.score = model.ScorePair(record, *c);
        result.candidates_scored = 1;
        return result;
      }
    }
  }
  // Rank by weight alone; explain only the chosen candidate.
  const MatchRecord* best_link = nullptr;
  const MatchRecord* best_any = nullptr;
  Levels best_link_levels{}, best_any_levels{};
  double best_link_weight = -1e300, best_any_weight = -1e300;
  const Model::Terms terms = candidates.empty() ? Model::Terms{} : model.TermsOf(record);
  for (const MatchRecord* c : candidates) {
    // A pair an operator kept apart neither links nor reopens a review.
    if (kept_apart && kept_apart(record, *c)) continue;
    Levels levels = Compare(record, *c);
    const double w = model.Weight(levels, terms);
    ++result.candidates_scored;
    if (w > best_any_weight) {
      best_any = c;
      best_any_weight = w;
      best_any_levels = levels;
    }
    const bool different_resident_ids =
        !record.resident_id.empty() && !c->resident_id.empty();
    // Twins share surname, birth date, address and often a parent's phone;
    // what tells them apart is the given name and their own identifiers. A
    // clear given-name disagreement blocks auto-linking unless an identifier
    // of the person (not of the household) agrees exactly. Likewise a birth
    // date that is not even close (relatives at one address often share a
    // name).
    const bool personal_id_agrees = levels[kOtherId] == 0;
    const bool given_names_differ = levels[kGiven] == 3 && !personal_id_agrees;
    const bool birth_dates_differ =
        levels[kBirthDate] == 3 && !personal_id_agrees;
    if (different_resident_ids ||
        (options.safety_rules && (given_names_differ || birth_dates_differ))) {
      continue;
    }
    if (w > best_link_weight) {
      best_link = c;
      best_link_weight = w;
      best_link_levels = levels;
    }
  }
  if (best_link != nullptr &&
      Model::Probability(best_link_weight) >= options.auto_link_threshold) {
    result.decision = Decision::kAutoLinked;
    result.candidate = best_link;
    result.score = model.ScoreLevels(best_link_levels, record);
  } else if (best_any != nullptr &&
             Model::Probability(best_any_weight) >= options.review_threshold) {
    result.decision = Decision::kNewWithReview;
    result.candidate = best_any;
    result.score = model.ScoreLevels(best_any_levels, record);
  } else if (best_any != nullptr) {
    result.decision = Decision::kNew;
    result.score = model.ScoreLevels(best_any_levels, record);
  }
  return result;
}
}  // namespace meridian::patient
