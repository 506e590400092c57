// meridian_bench index-growth [--records=N]
//
// Grows a KeyIndex and a CandidateCache (room for all) to N records, one
// record at a time as committed registrations add them, while a reader
// thread looks up candidates as a registration does (the keys of a record
// already in, then the cache's entries for what they name). Prints one JSON
// object: the longest single write and lookup, the lookups' p99.9, and how
// many lookups waited 10 ms or more. A table that grows rehashes every entry
// it holds under its lock, and each lookup behind that lock waits for it;
// this is that wait, measured. No PostgreSQL or Kafka needed.
#include "tools/bench/commands.h"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/patient-index/candidate_cache.h"
#include "services/patient-index/key_index.h"
#include "tools/bench/stats.h"

namespace meridian::bench {
namespace {

using patient::CandidateCache;
using patient::KeyIndex;
using patient::RecordVersion;
using patient::StoredRecord;

// Three blocking keys: the record's own (as a resident ID is), one shared by
// ~40 records (as a name and birth year), one by ~10 (as a phone).
std::vector<std::string> KeysOf(int64_t id) {
  return {absl::StrCat("rid:", id), absl::StrCat("nb:", id % 50'000),
          absl::StrCat("ph:", id % 200'000)};
}

// Match fields of the sizes a synthetic registration has (~200 bytes).
StoredRecord RecordOf(int64_t id) {
  StoredRecord r;
  r.id = id;
  r.match.id = id;
  r.organisation_id = "hosp-central";
  r.local_id = absl::StrCat("MRN-", id);
  r.regional_id = absl::StrCat("7c9e6679-7425-40de-944b-", 100'000'000'000 + id);
  r.match.family = "欧阳";
  r.match.given = "明华";
  r.match.family_pinyin = "ouyang";
  r.match.given_pinyin = "minghua";
  r.match.sex = "F";
  r.match.birth_date = "19870412";
  r.match.phone = absl::StrCat("138", 10'000'000 + id % 89'999'999);
  r.match.address = "解放路 188 号 3 栋 1201 室";
  r.match.locality = "城关街道";
  r.match.postcode = "310006";
  r.match.region = "330102";
  r.match.resident_id = absl::StrCat("33010219870412", 1000 + id % 9000);
  return r;
}

}  // namespace

int IndexGrowth(config::Reader& cfg) {
  const int64_t records = cfg.Int("RECORDS", 2'000'000, 1'000, 100'000'000);
  cfg.ExitIfInvalid();

  KeyIndex index;
  CandidateCache cache(static_cast<size_t>(records) + 1'024);  // never full
  std::atomic<int64_t> written{0};
  std::atomic<bool> stop{false};
  std::vector<double> lookup_ms;
  std::thread reader([&] {
    std::mt19937_64 rng(7);
    std::vector<StoredRecord> found;
    while (!stop) {
      const int64_t n = written.load(std::memory_order_acquire);
      if (n == 0) continue;
      const int64_t id = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
      const absl::Time t0 = absl::Now();
      const std::vector<RecordVersion> wanted = index.Lookup(KeysOf(id), 20);
      found.resize(wanted.size());
      std::vector<StoredRecord*> into;
      for (StoredRecord& r : found) into.push_back(&r);
      const std::vector<size_t> missing = cache.Get(wanted, into);
      lookup_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      if (!missing.empty()) Die(absl::StrCat("record ", id, ": a candidate not cached"));
    }
  });

  double longest_write_ms = 0;
  const absl::Time start = absl::Now();
  for (int64_t id = 1; id <= records; ++id) {
    const StoredRecord r = RecordOf(id);
    const std::vector<std::string> keys = KeysOf(id);
    const absl::Time t0 = absl::Now();
    cache.Put(r, 1);  // first: a lookup may find the record as soon as it is applied
    index.Apply(id, 1, keys);
    longest_write_ms = std::max(longest_write_ms, absl::ToDoubleMilliseconds(absl::Now() - t0));
    written.store(id, std::memory_order_release);
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  stop = true;
  reader.join();

  const int64_t slow = std::count_if(lookup_ms.begin(), lookup_ms.end(),
                                     [](double ms) { return ms >= 10; });
  const double longest_lookup_ms =
      lookup_ms.empty() ? 0 : *std::max_element(lookup_ms.begin(), lookup_ms.end());
  const double p999 = lookup_ms.empty() ? 0 : Percentile(lookup_ms, 0.999);
  std::cout << "{\"benchmark\":\"index_growth\",\"records\":" << records
            << ",\"keys\":" << index.keys() << ",\"seconds\":" << seconds
            << ",\"writes_per_second\":" << records / seconds
            << ",\"longest_write_ms\":" << longest_write_ms
            << ",\"lookups\":" << lookup_ms.size()
            << ",\"lookup_p999_ms\":" << p999
            << ",\"longest_lookup_ms\":" << longest_lookup_ms
            << ",\"lookups_over_10ms\":" << slow << "}" << std::endl;
  return 0;
}

}  // namespace meridian::bench
