#include "services/patient-index/model.h"

#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "services/patient-index/compare.h"

namespace meridian::patient {
namespace {

const std::string& Value(const MatchRecord& r, Field f) {
  switch (f) {
    case kFamily: return r.family;
    case kGiven: return r.given;
    case kBirthDate: return r.birth_date;
    case kSex: return r.sex;
    case kPhone: return r.phone;
    case kStreetNumber: return r.street_number;
    case kAddress: return r.address;
    case kLocality: return r.locality;
    case kPostcode: return r.postcode;
    case kRegion: return r.region;
    case kOtherId: return r.other_id;
    default: return r.other_id;
  }
}

bool HasTf(Field f) {
  return f == kFamily || f == kGiven || f == kLocality || f == kPostcode;
}

// 0 exact; 1 same pinyin (homophone) or JW >= 0.94; 2 JW >= 0.88; 3 other.
int NameLevel(const std::string& a, const std::string& ap, const std::string& b,
              const std::string& bp) {
  if (a == b) return 0;
  if (!ap.empty() && ap == bp) return 1;
  double jw = JaroWinkler(a, b);
  // Latin names are their own pinyin: compare once.
  if (ap != a || bp != b) jw = std::max(jw, JaroWinkler(ap, bp));
  if (jw >= 0.94) return 1;
  if (jw >= 0.88) return 2;
  return 3;
}

// 0 exact; 1 one edit or a transposition; 2 other.
int NumberLevel(const std::string& a, const std::string& b) {
  if (a == b) return 0;
  if (WithinOneEdit(a, b) || IsTransposition(a, b)) return 1;
  return 2;
}

// 0 exact; 1 JW >= 0.92; 2 JW >= 0.8; 3 other.
int TextLevel(const std::string& a, const std::string& b) {
  if (a == b) return 0;
  double jw = JaroWinkler(a, b);
  if (jw >= 0.92) return 1;
  if (jw >= 0.8) return 2;
  return 3;
}

}  // namespace

const char* FieldName(Field f) {
  static constexpr const char* kNames[] = {
      "family_name", "given_name", "birth_date", "sex",
      "phone",       "street_number", "address", "locality",
      "postcode",    "region",      "other_identifier"};
  return kNames[f];
}

int LevelCount(Field f) {
  switch (f) {
    case kFamily:
    case kGiven:
    case kBirthDate:
    case kAddress:
    case kLocality:
      return 4;
    case kPhone:
    case kStreetNumber:
    case kPostcode:
    case kOtherId:
      return 3;
    default:
      return 2;
  }
}

const char* LevelName(Field f, int level) {
  if (level == kMissing) return "missing";
  switch (f) {
    case kFamily:
    case kGiven: {
      static constexpr const char* k[] = {"exact", "same pinyin or very close",
                                          "close", "different"};
      return k[level];
    }
    case kBirthDate: {
      static constexpr const char* k[] = {
          "exact", "day/month swapped, year off by one or one digit",
          "same year", "different"};
      return k[level];
    }
    case kAddress:
    case kLocality: {
      static constexpr const char* k[] = {"exact", "very close", "close",
                                          "different"};
      return k[level];
    }
    case kPhone:
    case kStreetNumber:
    case kPostcode:
    case kOtherId: {
      static constexpr const char* k[] = {"exact", "one digit off",
                                          "different"};
      return k[level];
    }
    default: {
      static constexpr const char* k[] = {"same", "different"};
      return k[level];
    }
  }
}

Levels Compare(const MatchRecord& a, const MatchRecord& b) {
  Levels l;
  l.fill(kMissing);
  auto both = [&](Field f) {
    return !Value(a, f).empty() && !Value(b, f).empty();
  };
  if (both(kFamily) && both(kGiven)) {
    int family = NameLevel(a.family, a.family_pinyin, b.family, b.family_pinyin);
    int given = NameLevel(a.given, a.given_pinyin, b.given, b.given_pinyin);
    // Family and given names recorded the other way round (only worth
    // checking when the straight comparison is poor).
    if (family + given >= 3) {
      int sf = NameLevel(a.family, a.family_pinyin, b.given, b.given_pinyin);
      // The swap wins only if sf + sg + 1 < family + given: when even a
      // perfect sg could not, the second comparison is not worth making.
      if (sf + 1 < family + given) {
        int sg = NameLevel(a.given, a.given_pinyin, b.family, b.family_pinyin);
        if (sf + sg + 1 < family + given) {
          family = std::max(sf, 1);
          given = std::max(sg, 1);
        }
      }
    }
    l[kFamily] = family;
    l[kGiven] = given;
  } else {
    if (both(kFamily)) {
      l[kFamily] = NameLevel(a.family, a.family_pinyin, b.family, b.family_pinyin);
    }
    if (both(kGiven)) {
      l[kGiven] = NameLevel(a.given, a.given_pinyin, b.given, b.given_pinyin);
    }
  }
  if (both(kBirthDate)) {
    l[kBirthDate] = static_cast<int>(CompareDates(a.birth_date, b.birth_date));
  }
  if (both(kSex)) l[kSex] = a.sex == b.sex ? 0 : 1;
  if (both(kPhone)) l[kPhone] = NumberLevel(a.phone, b.phone);
  if (both(kStreetNumber)) {
    l[kStreetNumber] = NumberLevel(a.street_number, b.street_number);
  }
  if (both(kAddress)) l[kAddress] = TextLevel(a.address, b.address);
  if (both(kLocality)) l[kLocality] = TextLevel(a.locality, b.locality);
  if (both(kPostcode)) l[kPostcode] = NumberLevel(a.postcode, b.postcode);
  if (both(kRegion)) l[kRegion] = a.region == b.region ? 0 : 1;
  if (both(kOtherId)) l[kOtherId] = NumberLevel(a.other_id, b.other_id);
  return l;
}

void TermFrequencies::Add(const MatchRecord& r) {
  for (int f = 0; f < kNumFields; ++f) {
    AddCount(static_cast<Field>(f), Value(r, static_cast<Field>(f)), 1);
  }
}

void TermFrequencies::AddCount(Field f, const std::string& value, int64_t n) {
  if (!HasTf(f) || value.empty() || n <= 0) return;
  Count& c = counts_[f][value];
  c.n += n;
  c.log2_n = std::log2(static_cast<double>(c.n));
  totals_[f] += n;
  log2_totals_[f] = std::log2(static_cast<double>(totals_[f]));
}

bool TermFrequencies::Adjusts(Field f) { return HasTf(f); }

double TermFrequencies::Frequency(Field f, const std::string& value) const {
  if (!HasTf(f) || totals_[f] == 0) return -1;
  auto it = counts_[f].find(value);
  int64_t n = it == counts_[f].end() ? 1 : it->second.n;
  return static_cast<double>(n) / totals_[f];
}

double TermFrequencies::Log2Frequency(Field f, const std::string& value) const {
  if (!HasTf(f) || totals_[f] == 0) return std::numeric_limits<double>::infinity();
  auto it = counts_[f].find(value);
  return (it == counts_[f].end() ? 0.0 : it->second.log2_n) - log2_totals_[f];
}

ModelParameters Model::DefaultParameters() {
  // Starting weights for a registry that has not been trained yet, set from
  // what matching on Chinese demographics typically shows (m: how often a
  // true match falls in each level; u: how often two different people do).
  // `patient-index --train` re-estimates them from the registry's own data.
  ModelParameters p;
  p.prior = 0.01;
  auto set = [&](Field f, std::initializer_list<std::pair<double, double>> mu) {
    int l = 0;
    for (const auto& [m, u] : mu) {
      p.m[f][l] = m;
      p.u[f][l] = u;
      ++l;
    }
  };
  set(kFamily, {{0.90, 0.02}, {0.05, 0.005}, {0.02, 0.01}, {0.03, 0.965}});
  set(kGiven, {{0.85, 0.001}, {0.08, 0.0005}, {0.04, 0.002}, {0.03, 0.9965}});
  set(kBirthDate, {{0.92, 0.0003}, {0.05, 0.002}, {0.01, 0.03}, {0.02, 0.9677}});
  set(kSex, {{0.98, 0.5}, {0.02, 0.5}});
  set(kPhone, {{0.70, 0.0001}, {0.10, 0.0005}, {0.20, 0.9994}});
  set(kStreetNumber, {{0.80, 0.01}, {0.05, 0.05}, {0.15, 0.94}});
  set(kAddress, {{0.50, 0.0005}, {0.30, 0.001}, {0.10, 0.005}, {0.10, 0.9935}});
  set(kLocality, {{0.80, 0.05}, {0.10, 0.01}, {0.05, 0.04}, {0.05, 0.90}});
  set(kPostcode, {{0.85, 0.01}, {0.05, 0.05}, {0.10, 0.94}});
  set(kRegion, {{0.95, 0.1}, {0.05, 0.9}});
  set(kOtherId, {{0.90, 0.00001}, {0.05, 0.0001}, {0.05, 0.99989}});
  return p;
}

namespace {

}  // namespace

// log2(m / u) of the field's level; an exact agreement on a field with a
// term-frequency table takes the value's own frequency as u (a common surname
// counts for less), at least 1e-6.
double Model::FieldWeight(Field field, int level, double log2_frequency) const {
  if (level == kMissing) return 0;
  if (level == 0 && log2_frequency != std::numeric_limits<double>::infinity()) {
    static const double kLog2MinFrequency = std::log2(1e-6);
    return log_m_[field][0] - std::max(log2_frequency, kLog2MinFrequency);
  }
  return log_ratio_[field][level];
}

Model::Terms Model::TermsOf(const MatchRecord& a) const {
  Terms t;
  for (int f = 0; f < kNumFields; ++f) {
    t.log2_frequency[f] = tf_.Log2Frequency(static_cast<Field>(f), Value(a, static_cast<Field>(f)));
  }
  return t;
}

double Model::Weight(const Levels& levels, const Terms& a) const {
  double w = log_prior_odds_;
  for (int f = 0; f < kNumFields; ++f) {
    w += FieldWeight(static_cast<Field>(f), levels[f], a.log2_frequency[f]);
  }
  return w;
}

double Model::Probability(double weight) {
  return 1.0 / (1.0 + std::exp2(-weight));
}

double Model::Weight(const Levels& levels, const MatchRecord& a) const {
  return Weight(levels, TermsOf(a));
}

Score Model::ScoreLevels(const Levels& levels, const MatchRecord& a) const {
  Score s;
  s.weight = log_prior_odds_;
  const Terms terms = TermsOf(a);
  s.fields.reserve(kNumFields);
  for (int f = 0; f < kNumFields; ++f) {
    const Field field = static_cast<Field>(f);
    double w = FieldWeight(field, levels[f], terms.log2_frequency[f]);
    s.weight += w;
    s.fields.push_back({field, levels[f], w});
  }
  s.probability = Probability(s.weight);
  return s;
}

Score Model::ScorePair(const MatchRecord& a, const MatchRecord& b) const {
  return ScoreLevels(Compare(a, b), a);
}

int Model::Train(const std::vector<MatchRecord>& records,
                 const std::vector<std::pair<int, int>>& candidate_pairs,
                 int random_pairs, uint64_t seed) {
  const int iterations = TrainParameters(records, candidate_pairs, random_pairs, seed);
  Precompute();
  return iterations;
}

void Model::Precompute() {
  log_prior_odds_ = std::log2(params_.prior / (1 - params_.prior));
  for (int f = 0; f < kNumFields; ++f) {
    for (int l = 0; l < kMaxLevels; ++l) {
      log_m_[f][l] = std::log2(params_.m[f][l]);
      log_ratio_[f][l] = std::log2(params_.m[f][l] / params_.u[f][l]);
    }
  }
}

int Model::TrainParameters(const std::vector<MatchRecord>& records,
                           const std::vector<std::pair<int, int>>& candidate_pairs,
                           int random_pairs, uint64_t seed) {
  TermFrequencies tf;
  for (const MatchRecord& r : records) tf.Add(r);
  tf_ = std::move(tf);
  const int n = records.size();
  if (n < 2) return 0;

  // u: level frequencies among random pairs (almost all non-matches).
  {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> pick(0, n - 1);
    double counts[kNumFields][kMaxLevels] = {};
    for (int i = 0; i < random_pairs; ++i) {
      int a = pick(rng), b = pick(rng);
      if (a == b) continue;
      Levels l = Compare(records[a], records[b]);
      for (int f = 0; f < kNumFields; ++f) {
        if (l[f] != kMissing) counts[f][l[f]] += 1;
      }
    }
    for (int f = 0; f < kNumFields; ++f) {
      const int levels = LevelCount(static_cast<Field>(f));
      double total = 0;
      for (int l = 0; l < levels; ++l) total += counts[f][l] + 1;
      for (int l = 0; l < levels; ++l) {
        params_.u[f][l] = (counts[f][l] + 1) / total;  // Laplace-smoothed
      }
    }
  }

  // The prior: the share of candidate pairs that deterministic rules call a
  // match (a resident ID, personal identifier or phone agreeing exactly, or
  // names and birth date all exact).
  std::map<Levels, double> patterns;
  double deterministic = 0;
  for (const auto& [a, b] : candidate_pairs) {
    const MatchRecord& ra = records[a];
    const MatchRecord& rb = records[b];
    Levels l = Compare(ra, rb);
    patterns[l] += 1;
    const bool ids = (!ra.resident_id.empty() && ra.resident_id == rb.resident_id) ||
                     l[kOtherId] == 0 || l[kPhone] == 0;
    const bool names_dob = l[kFamily] == 0 && l[kGiven] == 0 && l[kBirthDate] == 0;
    if (ids || names_dob) deterministic += 1;
  }
  if (patterns.empty()) return 0;
  params_.prior = std::clamp(deterministic / candidate_pairs.size(), 1e-5, 0.5);

  // m by EM in two rounds, as Splink does: left to all candidate pairs at
  // once, EM drifts to a "match" class that merely shares a blocking key
  // (same surname and birth year). Round 1 takes the pairs with the same
  // birth date and learns m of every other field; round 2 takes the pairs
  // with the same family and given names and learns m of the birth date.
  // Within a round the conditioning fields are left out of the likelihood
  // and the round's own match rate is free.
  auto em_round = [&](auto keep, std::array<bool, kNumFields> learn) {
    std::map<Levels, double> sub;
    for (const auto& [levels, count] : patterns) {
      if (keep(levels)) sub[levels] += count;
    }
    if (sub.empty()) return 0;
    double prior = 0.5;
    ModelParameters p = params_;
    int it = 0;
    for (; it < 100; ++it) {
      double m_num[kNumFields][kMaxLevels] = {};
      double m_den[kNumFields] = {};
      double matched = 0, total = 0;
      for (const auto& [levels, count] : sub) {
        double log_m = std::log(prior), log_u = std::log(1 - prior);
        for (int f = 0; f < kNumFields; ++f) {
          if (!learn[f] || levels[f] == kMissing) continue;
          log_m += std::log(p.m[f][levels[f]]);
          log_u += std::log(p.u[f][levels[f]]);
        }
        const double g = 1.0 / (1.0 + std::exp(log_u - log_m));
        matched += g * count;
        total += count;
        for (int f = 0; f < kNumFields; ++f) {
          if (levels[f] == kMissing) continue;
          m_num[f][levels[f]] += g * count;
          m_den[f] += g * count;
        }
      }
      double change = 0;
      for (int f = 0; f < kNumFields; ++f) {
        if (!learn[f] || m_den[f] <= 0) continue;
        const int levels = LevelCount(static_cast<Field>(f));
        // Floor each level at 0.1%: data that happens to hold no error of
        // some kind must not make that error a veto for ever.
        double sum = 0;
        double v[kMaxLevels];
        for (int l = 0; l < levels; ++l) {
          v[l] = std::max(m_num[f][l] / m_den[f], 1e-3);
          sum += v[l];
        }
        for (int l = 0; l < levels; ++l) {
          change = std::max(change, std::abs(v[l] / sum - p.m[f][l]));
          p.m[f][l] = v[l] / sum;
        }
      }
      const double next = std::clamp(matched / total, 1e-4, 0.9999);
      change = std::max(change, std::abs(next - prior));
      prior = next;
      if (change < 1e-5) break;
    }
    for (int f = 0; f < kNumFields; ++f) {
      if (!learn[f]) continue;
      for (int l = 0; l < kMaxLevels; ++l) params_.m[f][l] = p.m[f][l];
    }
    return it + 1;
  };
  std::array<bool, kNumFields> all_but_dob;
  all_but_dob.fill(true);
  all_but_dob[kBirthDate] = false;
  std::array<bool, kNumFields> only_dob{};
  only_dob[kBirthDate] = true;
  int iterations = em_round(
      [](const Levels& l) { return l[kBirthDate] == 0; }, all_but_dob);
  iterations += em_round(
      [](const Levels& l) { return l[kFamily] == 0 && l[kGiven] == 0; },
      only_dob);
  return iterations;
}

std::string Model::SerializeParameters() const {
  std::string out = absl::StrFormat("prior %.17g\n", params_.prior);
  for (int f = 0; f < kNumFields; ++f) {
    for (int l = 0; l < LevelCount(static_cast<Field>(f)); ++l) {
      absl::StrAppendFormat(&out, "m %s %d %.17g\n", FieldName(static_cast<Field>(f)), l,
                            params_.m[f][l]);
      absl::StrAppendFormat(&out, "u %s %d %.17g\n", FieldName(static_cast<Field>(f)), l,
                            params_.u[f][l]);
    }
  }
  return out;
}

absl::StatusOr<ModelParameters> Model::ParseParameters(absl::string_view text) {
  ModelParameters p = DefaultParameters();
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_no;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat("model line ", line_no, ": ", what));
    };
    double v;
    if (parts.size() == 2 && parts[0] == "prior") {
      if (!absl::SimpleAtod(parts[1], &v) || v <= 0 || v >= 1) return bad("bad prior");
      p.prior = v;
      continue;
    }
    if (parts.size() != 4 || (parts[0] != "m" && parts[0] != "u")) return bad("syntax");
    int field = -1;
    for (int f = 0; f < kNumFields; ++f) {
      if (parts[1] == FieldName(static_cast<Field>(f))) field = f;
    }
    int level;
    if (field < 0) return bad("unknown field");
    if (!absl::SimpleAtoi(parts[2], &level) || level < 0 ||
        level >= LevelCount(static_cast<Field>(field))) {
      return bad("bad level");
    }
    if (!absl::SimpleAtod(parts[3], &v) || v <= 0 || v >= 1) return bad("bad probability");
    (parts[0] == "m" ? p.m : p.u)[field][level] = v;
  }
  return p;
}

std::string Model::Describe() const {
  std::string out = absl::StrFormat("prior (lambda) %.6f\n", params_.prior);
  for (int f = 0; f < kNumFields; ++f) {
    const Field field = static_cast<Field>(f);
    for (int l = 0; l < LevelCount(field); ++l) {
      absl::StrAppendFormat(&out, "%-17s %-50s m=%.4f u=%.6f weight=%+.2f\n",
                            FieldName(field), LevelName(field, l),
                            params_.m[f][l], params_.u[f][l],
                            std::log2(params_.m[f][l] / params_.u[f][l]));
    }
  }
  return out;
}

}  // namespace meridian::patient
