#include "tools/bench/commands.h"

#include <fstream>
#include <iostream>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "services/patient-index/block_index.h"
#include "services/patient-index/match_settings.h"
#include "services/patient-index/linker.h"
#include "services/patient-index/model.h"
#include "services/patient-index/patient_index.h"
#include "services/patient-index/text.h"
#include "tools/gen/synthetic.h"

namespace meridian::bench {
namespace {

using patient::MatchRecord;

struct Row {
  MatchRecord record;
  std::string entity;  // "1496" from rec-1496-org / rec-1496-dup-3
};

// FEBRL columns: rec_id, given_name, surname, street_number, address_1,
// address_2, suburb, postcode, state, date_of_birth, soc_sec_id.
std::vector<Row> LoadFebrl(const std::string& path, int64_t first_id) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "meridian_bench: cannot read " << path << std::endl;
    std::exit(1);
  }
  std::vector<Row> rows;
  std::string line;
  std::getline(in, line);  // header
  std::vector<std::string> header = absl::StrSplit(line, ',');
  for (std::string& h : header) h = std::string(absl::StripAsciiWhitespace(h));
  auto col = [&](absl::string_view name) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return static_cast<int>(i);
    }
    std::cerr << "meridian_bench: " << path << " has no column " << name
              << std::endl;
    std::exit(1);
  };
  const int c_id = col("rec_id"), c_given = col("given_name"),
            c_surname = col("surname"), c_number = col("street_number"),
            c_a1 = col("address_1"), c_a2 = col("address_2"),
            c_suburb = col("suburb"), c_post = col("postcode"),
            c_state = col("state"), c_dob = col("date_of_birth"),
            c_ssn = col("soc_sec_id");
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f = absl::StrSplit(line, ',');
    if (f.size() < header.size()) continue;
    for (std::string& s : f) s = std::string(absl::StripAsciiWhitespace(s));
    Row row;
    MatchRecord& r = row.record;
    r.id = first_id + rows.size();
    r.given = patient::NormalizeName(f[c_given]);
    r.family = patient::NormalizeName(f[c_surname]);
    r.street_number = patient::DigitsOnly(f[c_number]);
    r.address = patient::NormalizeText(absl::StrCat(f[c_a1], " ", f[c_a2]));
    r.locality = patient::NormalizeText(f[c_suburb]);
    r.postcode = patient::DigitsOnly(f[c_post]);
    r.region = patient::NormalizeText(f[c_state]);
    std::string dob = patient::DigitsOnly(f[c_dob]);
    r.birth_date = dob.size() == 8 ? dob : "";
    r.other_id = patient::DigitsOnly(f[c_ssn]);
    patient::DerivePinyin(&r);
    // rec-1496-org, rec-1496-dup-3
    std::vector<std::string> parts = absl::StrSplit(f[c_id], '-');
    row.entity = parts.size() >= 2 ? parts[1] : f[c_id];
    rows.push_back(std::move(row));
  }
  return rows;
}

// tools/meridian gen patients CSV, each row through the service's own
// validation and normalisation (PrepareRegistration).
std::vector<Row> LoadSynthetic(const std::string& path) {
  absl::StatusOr<std::vector<gen::SyntheticRow>> read = gen::ReadSyntheticCsv(path);
  if (!read.ok()) {
    std::cerr << "meridian_bench: " << read.status() << std::endl;
    std::exit(1);
  }
  std::vector<Row> rows;
  int rejected = 0;
  for (const gen::SyntheticRow& s : *read) {
    absl::StatusOr<patient::Prepared> prepared =
        patient::PrepareRegistration(s.request, "20261204");
    if (!prepared.ok()) {
      ++rejected;
      continue;
    }
    Row row;
    row.record = prepared->match;
    row.record.id = rows.size();
    row.entity = s.truth_id;
    rows.push_back(std::move(row));
  }
  if (rejected > 0) {
    std::cerr << "meridian_bench: " << rejected << " rows rejected by validation\n";
  }
  return rows;
}

uint64_t PairKey(int a, int b) {
  if (a > b) std::swap(a, b);
  return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

int Mpi(config::Reader& cfg) {
  const std::string synthetic = cfg.String("CSV", "");
  const std::string file1 = synthetic.empty() ? cfg.RequiredString("FEBRL") : "";
  const std::string file2 = cfg.String("FEBRL2", "");
  patient::MatchOptions options;
  options.auto_link_threshold = cfg.Int("AUTO_LINK_PERMILLE", 990, 1, 1000) / 1000.0;
  options.review_threshold = cfg.Int("REVIEW_PERMILLE", 500, 1, 1000) / 1000.0;
  patient::ReadBlockingCaps(cfg, options);
  // EM trains on a wider candidate set than matching uses, as the service's
  // --train does.
  const int train_per_key = options.wide_candidates_per_key;
  const bool print_weights = cfg.Bool("WEIGHTS", false);
  const bool dump_misses = cfg.Bool("DUMP_MISSES", false);
  options.safety_rules = cfg.Bool("SAFETY_RULES", true);
  const int repeat = static_cast<int>(cfg.Int("REPEAT", 9, 1, 1000));
  cfg.ExitIfInvalid();
  const bool linking = !file2.empty();

  const absl::Time start = absl::Now();
  std::vector<Row> rows =
      synthetic.empty() ? LoadFebrl(file1, 0) : LoadSynthetic(synthetic);
  const int n1 = rows.size();
  if (linking) {
    std::vector<Row> more = LoadFebrl(file2, n1);
    for (Row& r : more) rows.push_back(std::move(r));
  }
  const int n = rows.size();
  std::vector<MatchRecord> records;
  records.reserve(n);
  for (const Row& r : rows) records.push_back(r.record);
  auto in_scope = [&](int a, int b) {
    return !linking || ((a < n1) != (b < n1));  // linking: across files only
  };

  // Blocking: the candidate pairs, exactly as the online lookups produce them
  // (each record against those indexed before it; linking: B against A).
  const absl::Time block_start = absl::Now();
  patient::BlockIndex index;
  std::vector<std::vector<int>> candidates(n);
  std::vector<std::pair<int, int>> candidate_pairs, training_pairs;
  absl::flat_hash_set<uint64_t> candidate_set, training_set;
  if (linking) {
    for (int i = 0; i < n1; ++i) index.Add(i, records[i]);
  }
  auto block = [&](int i, int per_key, std::vector<std::pair<int, int>>& pairs,
                   absl::flat_hash_set<uint64_t>& seen, std::vector<int>* each) {
    for (int c : index.Candidates(records[i], per_key, options.max_candidates)) {
      if (!in_scope(i, c)) continue;
      if (each != nullptr) each->push_back(c);
      if (seen.insert(PairKey(i, c)).second) pairs.emplace_back(i, c);
    }
  };
  for (int i = linking ? n1 : 0; i < n; ++i) {
    block(i, options.max_candidates_per_key, candidate_pairs, candidate_set, &candidates[i]);
    if (train_per_key != options.max_candidates_per_key) {
      block(i, train_per_key, training_pairs, training_set, nullptr);
    }
    if (!linking) index.Add(i, records[i]);
  }
  const std::vector<std::pair<int, int>>& training =
      train_per_key == options.max_candidates_per_key ? candidate_pairs : training_pairs;
  const double block_seconds = absl::ToDoubleSeconds(absl::Now() - block_start);

  // Train on these records: u from random pairs, m by EM on candidates.
  const absl::Time train_start = absl::Now();
  patient::Model model;
  int iterations = model.Train(records, training);
  const double train_seconds = absl::ToDoubleSeconds(absl::Now() - train_start);
  if (print_weights) std::cerr << model.Describe();

  // Match online: each record joins the identity of its auto-linked
  // candidate, or starts a new one.
  // The matching step runs `repeat` times (identical results each time) and
  // its median time gives pairs_per_second: one pass over a few thousand
  // pairs lasts milliseconds, too short to time alone on a noisy machine.
  std::vector<int> identity(n);
  int64_t scored = 0;
  int64_t reviews = 0;
  std::vector<double> match_times;
  for (int pass = 0; pass < repeat; ++pass) {
    const absl::Time match_start = absl::Now();
    std::iota(identity.begin(), identity.end(), 0);
    scored = 0;
    reviews = 0;
    std::vector<const MatchRecord*> cands;  // reused: the harness allocates nothing per record
    for (int i = linking ? n1 : 0; i < n; ++i) {
      cands.clear();
      for (int c : candidates[i]) cands.push_back(&records[c]);
      patient::MatchResult m = patient::Decide(model, records[i], cands, options);
      scored += m.candidates_scored;
      if (patient::Links(m.decision)) {
        identity[i] = identity[m.candidate->id];
      } else if (m.decision == patient::Decision::kNewWithReview) {
        ++reviews;
      }
    }
    match_times.push_back(absl::ToDoubleSeconds(absl::Now() - match_start));
  }
  std::sort(match_times.begin(), match_times.end());
  const double match_seconds = match_times[match_times.size() / 2];

  // Pairwise evaluation against the truth.
  absl::flat_hash_map<std::string, std::vector<int>> by_entity;
  absl::flat_hash_map<int, std::vector<int>> by_identity;
  for (int i = 0; i < n; ++i) {
    by_entity[rows[i].entity].push_back(i);
    by_identity[identity[i]].push_back(i);
  }
  auto pairs_of = [&](const std::vector<int>& group,
                      const std::function<void(int, int)>& fn) {
    for (size_t x = 0; x < group.size(); ++x) {
      for (size_t y = x + 1; y < group.size(); ++y) {
        if (in_scope(group[x], group[y])) fn(group[x], group[y]);
      }
    }
  };
  absl::flat_hash_set<uint64_t> truth;
  for (const auto& [e, group] : by_entity) {
    pairs_of(group, [&](int a, int b) { truth.insert(PairKey(a, b)); });
  }
  int64_t predicted = 0, correct = 0;
  for (const auto& [id, group] : by_identity) {
    pairs_of(group, [&](int a, int b) {
      ++predicted;
      correct += truth.contains(PairKey(a, b));
    });
  }
  if (dump_misses) {
    // Every true pair the engine did not place together, with the reason.
    for (uint64_t k : truth) {
      int a = static_cast<int>(k >> 32), b = static_cast<int>(k & 0xffffffff);
      if (identity[a] == identity[b]) continue;
      patient::Levels l = patient::Compare(records[b], records[a]);
      patient::Score s = model.ScoreLevels(l, records[b]);
      std::cerr << (candidate_set.contains(k) ? "scored " : "unblocked ")
                << "p=" << s.probability << " levels:";
      for (int f = 0; f < patient::kNumFields; ++f) std::cerr << " " << int(l[f]);
      std::cerr << " | " << records[a].given << " " << records[a].family << " "
                << records[a].birth_date << " / " << records[b].given << " "
                << records[b].family << " " << records[b].birth_date << "\n";
    }
  }
  int64_t truth_in_candidates = 0;
  for (uint64_t k : truth) truth_in_candidates += candidate_set.contains(k);
  const double total_pairs =
      linking ? static_cast<double>(n1) * (n - n1)
              : static_cast<double>(n) * (n - 1) / 2;
  const double precision = predicted ? static_cast<double>(correct) / predicted : 0;
  const double recall = truth.empty() ? 0 : static_cast<double>(correct) / truth.size();
  const double f1 = precision + recall > 0
                        ? 2 * precision * recall / (precision + recall) : 0;
  // Load, block, train and one matching pass (not the timing repeats).
  double repeats = -match_seconds;
  for (double t : match_times) repeats += t;
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start) - repeats;

  std::cout << "{\"benchmark\":\"mpi\",\"mode\":\""
            << (linking ? "link" : "dedupe") << "\",\"records\":" << n
            << ",\"true_pairs\":" << truth.size()
            << ",\"candidate_pairs\":" << candidate_pairs.size()
            << ",\"pairs_completeness\":"
            << (truth.empty() ? 0.0 : static_cast<double>(truth_in_candidates) / truth.size())
            << ",\"reduction_ratio\":" << 1.0 - candidate_pairs.size() / total_pairs
            << ",\"predicted_pairs\":" << predicted
            << ",\"precision\":" << precision << ",\"recall\":" << recall
            << ",\"f1\":" << f1 << ",\"review_tasks\":" << reviews
            << ",\"em_iterations\":" << iterations
            << ",\"auto_link_threshold\":" << options.auto_link_threshold
            << ",\"max_candidates_per_key\":" << options.max_candidates_per_key
            << ",\"max_candidates\":" << options.max_candidates
            << ",\"wide_candidates_per_key\":" << options.wide_candidates_per_key
            << ",\"training_pairs\":" << training.size()
            << ",\"safety_rules\":" << (options.safety_rules ? "true" : "false")
            << ",\"seconds\":" << seconds
            << ",\"blocking_seconds\":" << block_seconds
            << ",\"training_seconds\":" << train_seconds
            << ",\"matching_seconds\":" << match_seconds
            << ",\"pairs_scored\":" << scored << ",\"repeat\":" << repeat
            << ",\"pairs_per_second\":" << scored / match_seconds << "}"
            << std::endl;
  return 0;
}

}  // namespace meridian::bench
