// Fellegi-Sunter record linkage: per-field comparison levels, m and u
// probabilities (u from random pairs; the match prior from deterministic
// rules; m by EM over the blocked candidate pairs), term-frequency adjustment
// of exact agreement on names and places, and a per-field explanation of
// every score.
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_MODEL_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_MODEL_H_

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "services/patient-index/match_record.h"

namespace meridian::patient {

enum Field : int {
  kFamily = 0,
  kGiven,
  kBirthDate,
  kSex,
  kPhone,
  kStreetNumber,
  kAddress,
  kLocality,
  kPostcode,
  kRegion,
  kOtherId,
  kNumFields,
};

constexpr int kMaxLevels = 4;
// Level of a field in a comparison: 0 is the strongest agreement; kMissing
// when either side lacks the field (it then weighs nothing).
constexpr int kMissing = -1;

const char* FieldName(Field f);
int LevelCount(Field f);
const char* LevelName(Field f, int level);

using Levels = std::array<int8_t, kNumFields>;

// Compares two records field by field.
Levels Compare(const MatchRecord& a, const MatchRecord& b);

struct FieldContribution {
  Field field;
  int level;      // kMissing or a level
  double weight;  // log2(m/u), term-frequency adjusted
};

struct Score {
  double weight = 0;       // prior + sum of field weights (bits)
  double probability = 0;  // match probability
  std::vector<FieldContribution> fields;
};

// Value frequencies for the term-frequency adjustment.
class TermFrequencies {
 public:
  void Add(const MatchRecord& r);
  // `n` records have `value` in field `f` (ignored for fields without TF).
  void AddCount(Field f, const std::string& value, int64_t n);
  // The fields that get a term-frequency adjustment.
  static bool Adjusts(Field f);
  // P(a random record has this value of `f`), or -1 when f has no TF table.
  double Frequency(Field f, const std::string& value) const;

 private:
  struct Count {
    int64_t n = 0;
    double log2_n = 0;  // kept with n: no logarithm per comparison
  };
  absl::flat_hash_map<std::string, Count> counts_[kNumFields];
  int64_t totals_[kNumFields] = {};
  double log2_totals_[kNumFields] = {};

 public:
  // log2 of Frequency(f, value) (the same value, from stored logarithms), or
  // +infinity when f has no TF table.
  double Log2Frequency(Field f, const std::string& value) const;
};

struct ModelParameters {
  double prior = 1e-4;  // lambda: P(match) among candidate pairs
  double m[kNumFields][kMaxLevels] = {};
  double u[kNumFields][kMaxLevels] = {};
};

class Model {
 public:
  // Reasonable starting values (and the weights used before any training).
  static ModelParameters DefaultParameters();

  explicit Model(ModelParameters params = DefaultParameters())
      : params_(params) {
    Precompute();
  }

  // u from `random_pairs` random pairs of `records`; TF tables from all of
  // them; the prior from deterministic rules over `candidate_pairs` and m by
  // EM over them. Returns the number of EM iterations run.
  int Train(const std::vector<MatchRecord>& records,
            const std::vector<std::pair<int, int>>& candidate_pairs,
            int random_pairs = 200000, uint64_t seed = 1);

  Score ScorePair(const MatchRecord& a, const MatchRecord& b) const;
  // The score with its per-field explanation.
  Score ScoreLevels(const Levels& levels, const MatchRecord& a) const;
  // Only the total weight (bits), for ranking many candidates.
  double Weight(const Levels& levels, const MatchRecord& a) const;
  // The same with `a`'s term frequencies looked up once (TermsOf(a)) for all
  // of its candidates.
  struct Terms {
    double log2_frequency[kNumFields];  // +infinity: no TF adjustment
  };
  Terms TermsOf(const MatchRecord& a) const;
  double Weight(const Levels& levels, const Terms& a) const;
  static double Probability(double weight);

  const ModelParameters& parameters() const { return params_; }
  const TermFrequencies& term_frequencies() const { return tf_; }
  void set_term_frequencies(TermFrequencies tf) { tf_ = std::move(tf); }

  // The weights as a human-readable table.
  std::string Describe() const;

  // The trained parameters as text ("prior P", "m FIELD LEVEL V",
  // "u FIELD LEVEL V" lines) and back. Parse rejects unknown fields, levels
  // out of range and probabilities outside (0, 1).
  std::string SerializeParameters() const;
  static absl::StatusOr<ModelParameters> ParseParameters(absl::string_view text);

 private:
  // The weights' logarithms, from params_ (Precompute, after every change).
  void Precompute();
  int TrainParameters(const std::vector<MatchRecord>& records,
                      const std::vector<std::pair<int, int>>& candidate_pairs,
                      int random_pairs, uint64_t seed);
  double FieldWeight(Field field, int level, double log2_frequency) const;

  ModelParameters params_;
  TermFrequencies tf_;
  double log_prior_odds_ = 0;
  double log_m_[kNumFields][kMaxLevels] = {};
  double log_ratio_[kNumFields][kMaxLevels] = {};
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_MODEL_H_
