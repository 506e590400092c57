// meridian_load: registers synthetic patients over gRPC (mTLS, each row as
// its own institution) and prints one JSON object with throughput and latency
// percentiles.
//
//   tools/meridian gen patients --count 100000 --out /tmp/p.csv
//   meridian_load --csv=/tmp/p.csv [--target=127.0.0.1:50051]
//                 [--concurrency=16] [--limit=N] [--report_every=100000]
//
// With --report_every, a JSON line is also printed for every window of that
// many registrations, so a run that grows the index to 1,000,000 shows how
// throughput and p99 hold up as it fills.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/config/config.h"
#include "libs/server/client.h"
#include "meridian/patient/v1/patient_index.grpc.pb.h"
#include "tools/gen/synthetic.h"

namespace {

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

void Report(const char* kind, int64_t done, int64_t errors, double seconds,
            std::vector<double> latencies_ms) {
  std::cout << "{\"benchmark\":\"register\",\"window\":\"" << kind
            << "\",\"registrations\":" << done << ",\"errors\":" << errors
            << ",\"seconds\":" << seconds
            << ",\"per_second\":" << (seconds > 0 ? latencies_ms.size() / seconds : 0)
            << ",\"p50_ms\":" << Percentile(latencies_ms, 0.50)
            << ",\"p99_ms\":" << Percentile(latencies_ms, 0.99)
            << ",\"max_ms\":" << Percentile(latencies_ms, 1.0) << "}" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  meridian::config::Reader cfg = meridian::config::Reader::FromProcess(argc, argv);
  const std::string csv = cfg.RequiredString("CSV");
  const std::string target = cfg.String("TARGET", "127.0.0.1:50051");
  const std::string certs = cfg.RequiredString("CERTS_DIR");
  const int concurrency = static_cast<int>(cfg.Int("CONCURRENCY", 16, 1, 512));
  const int64_t limit = cfg.Int("LIMIT", 0, 0, 100000000);
  const int64_t window = cfg.Int("REPORT_EVERY", 0, 0, 100000000);
  cfg.ExitIfInvalid();

  absl::StatusOr<std::vector<meridian::gen::SyntheticRow>> read =
      meridian::gen::ReadSyntheticCsv(csv, limit);
  if (!read.ok()) {
    std::cerr << "meridian_load: " << read.status() << std::endl;
    return 1;
  }
  const std::vector<meridian::gen::SyntheticRow>& rows = *read;
  absl::flat_hash_map<std::string, std::unique_ptr<meridian::patient::v1::PatientIndex::Stub>>
      stubs;
  for (const meridian::gen::SyntheticRow& r : rows) {
    if (stubs.contains(r.organisation)) continue;
    auto ch = meridian::server::MakeChannel(
        target, {certs + "/ca.pem", certs + "/" + r.organisation + ".pem",
                 certs + "/" + r.organisation + ".key"});
    if (!ch.ok()) {
      std::cerr << "meridian_load: " << ch.status() << std::endl;
      return 1;
    }
    stubs[r.organisation] = meridian::patient::v1::PatientIndex::NewStub(*ch);
  }

  std::atomic<int64_t> next{0}, errors{0};
  std::mutex mu;
  std::vector<double> all, recent;
  int64_t completed = 0;
  absl::Time window_start = absl::Now();
  int64_t window_errors = 0;
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&] {
      while (true) {
        int64_t i = next++;
        if (i >= static_cast<int64_t>(rows.size())) return;
        const meridian::gen::SyntheticRow& row = rows[i];
        meridian::patient::v1::RegisterPatientResponse resp;
        auto ctx = meridian::server::NewContext(absl::Seconds(30));
        absl::Time t0 = absl::Now();
        grpc::Status s = stubs[row.organisation]->RegisterPatient(ctx.get(), row.request, &resp);
        double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
        std::lock_guard<std::mutex> lock(mu);
        if (!s.ok()) {
          ++errors;
          ++window_errors;
          if (errors <= 5) std::cerr << "meridian_load: " << s.error_message() << std::endl;
          continue;
        }
        all.push_back(ms);
        recent.push_back(ms);
        ++completed;
        if (window > 0 && completed % window == 0) {
          Report("window", completed, window_errors,
                 absl::ToDoubleSeconds(absl::Now() - window_start), recent);
          recent.clear();
          window_errors = 0;
          window_start = absl::Now();
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  Report("total", completed, errors, absl::ToDoubleSeconds(absl::Now() - start), all);
  return errors == 0 ? 0 : 1;
}
