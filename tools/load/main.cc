// meridian_load: registers synthetic patients over gRPC (mTLS, each row as
// its own institution) and prints one JSON object with throughput and latency
// percentiles.
//
//   tools/meridian gen patients --count 100000 --out /tmp/p.csv
//   meridian_load --csv=/tmp/p.csv [--target=127.0.0.1:25051]
//                 [--concurrency=16] [--limit=N] [--report_every=100000]
//                 [--shuffle_seed=S] [--offset=K] [--rate=R]
//
// The generator writes a person's duplicate rows next to each other, so in
// file order the same person arrives at two institutions within the same
// millisecond (their registrations then wait on each other's locks). With
// --shuffle_seed the rows are sent in a random order (the same for the same
// seed), as registrations arrive in a region; --offset skips that many rows
// of that order, so runs of --limit rows each use disjoint slices of one
// file.
//
// By default the load is a closed loop: --concurrency registrations are in
// flight at all times, each sent as the one before it returns. With --rate=R
// it is an open loop, as registrations arrive in a region: the i-th is due at
// start + i/R seconds whether or not earlier ones have returned, up to
// --concurrency in flight, and its latency counts from when it was due, so a
// registration held back by a slow one before it is counted as slow too (no
// coordinated omission). `late` counts those sent more than 1 ms after they
// were due: nonzero means the concurrency was too low for the rate.
//
// With --report_every, a JSON line is also printed for every window of that
// many registrations, so a run that grows the index to 1,000,000 shows how
// throughput and p99 hold up as it fills.
//
// With --visits=K (and --records_target, default 127.0.0.1:25052), every
// patient registered by a hospital or health centre then gets K synthetic
// outpatient encounters from that institution, pushed with the records
// service's PushRecords stream (one per institution, 500 per message); a
// second JSON line reports them.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/config/config.h"
#include "libs/server/client.h"
#include "libs/orgs/directory.h"
#include "meridian/patient/v1/patient_index.grpc.pb.h"
#include "meridian/records/v1/records.grpc.pb.h"
#include "tools/gen/synthetic.h"

namespace {

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

// CPU this process has used (user and system), all threads.
absl::Duration ProcessCpu() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return absl::DurationFromTimeval(u.ru_utime) + absl::DurationFromTimeval(u.ru_stime);
}

// With `cpu`, also the client's own CPU per registration (what the load
// generator takes from a machine it shares with the platform).
void Report(const char* kind, int64_t done, int64_t errors, double seconds,
            std::vector<double> latencies_ms, absl::Duration cpu = absl::ZeroDuration()) {
  std::cout << "{\"benchmark\":\"register\",\"window\":\"" << kind
            << "\",\"registrations\":" << done << ",\"errors\":" << errors
            << ",\"seconds\":" << seconds
            << ",\"per_second\":" << (seconds > 0 ? latencies_ms.size() / seconds : 0)
            << ",\"p50_ms\":" << Percentile(latencies_ms, 0.50)
            << ",\"p99_ms\":" << Percentile(latencies_ms, 0.99)
            << ",\"max_ms\":" << Percentile(latencies_ms, 1.0)
            << ",\"ended_unix_ms\":" << absl::ToUnixMillis(absl::Now());
  if (cpu > absl::ZeroDuration() && done > 0) {
    std::cout << ",\"client_cpu_ms_per_registration\":"
              << absl::ToDoubleMilliseconds(cpu) / static_cast<double>(done);
  }
  std::cout << "}" << std::endl;
}

// Pushes `visits` encounters for each row registered by a care institution.
bool PushVisits(const std::vector<meridian::gen::SyntheticRow>& rows, int visits,
                const meridian::orgs::Directory& directory, const std::string& target,
                const std::string& certs) {
  namespace rv1 = meridian::records::v1;
  static const char* kCodes[] = {"I10", "E11.9", "J44.9", "I25.1", "E78.5",
                                 "K21.9", "M54.5", "J06.9", "N39.0", "F32.9"};
  absl::flat_hash_map<std::string, std::vector<const meridian::gen::SyntheticRow*>> by_org;
  for (const auto& r : rows) {
    const meridian::orgs::Organisation* o = directory.Find(r.organisation);
    if (o != nullptr && meridian::orgs::RoleOf(o->type()) == meridian::orgs::Role::kCare) {
      by_org[r.organisation].push_back(&r);
    }
  }
  std::mt19937 rng(42);
  const int64_t now = absl::ToUnixSeconds(absl::Now()) - 3 * 3600;
  int64_t pushed = 0, failed = 0;
  const absl::Time start = absl::Now();
  for (const auto& [org, patients] : by_org) {
    auto ch = meridian::server::MakeChannel(
        target, {certs + "/ca.pem", certs + "/" + org + ".pem", certs + "/" + org + ".key"});
    if (!ch.ok()) {
      std::cerr << "meridian_load: " << ch.status() << std::endl;
      return false;
    }
    auto stub = rv1::Records::NewStub(*ch);
    auto ctx = meridian::server::NewContext(absl::Minutes(10));
    rv1::PushRecordsResponse response;
    auto writer = stub->PushRecords(ctx.get(), &response);
    rv1::RecordBatch batch;
    int n = 0;
    for (const auto* p : patients) {
      for (int v = 0; v < visits; ++v) {
        rv1::Encounter* e = batch.add_items()->mutable_encounter();
        e->set_local_id(absl::StrCat("V-", p->request.local_id(), "-", v));
        e->set_patient_local_id(p->request.local_id());
        e->set_encounter_class(rv1::OUTPATIENT);
        const int64_t t = now - static_cast<int64_t>(rng() % (365 * 86400));
        e->mutable_start_time()->set_seconds(t);
        e->mutable_end_time()->set_seconds(t + 1800);
        e->set_department("General Practice");
        auto* d = e->add_diagnoses();
        d->set_icd10_code(kCodes[rng() % 10]);
        d->set_primary(true);
        if (++n % 500 == 0) {
          writer->Write(batch);
          batch.Clear();
        }
      }
    }
    if (batch.items_size() > 0) writer->Write(batch);
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    if (!s.ok()) {
      std::cerr << "meridian_load: records push as " << org << ": " << s.error_message()
                << std::endl;
      failed += n;
      continue;
    }
    pushed += response.succeeded();
    failed += response.failed();
  }
  std::cout << "{\"benchmark\":\"records_push\",\"records\":" << pushed
            << ",\"errors\":" << failed
            << ",\"seconds\":" << absl::ToDoubleSeconds(absl::Now() - start) << "}"
            << std::endl;
  return failed == 0;
}

}  // namespace

int main(int argc, char** argv) {
  meridian::config::Reader cfg = meridian::config::Reader::FromProcess(argc, argv);
  const std::string csv = cfg.RequiredString("CSV");
  const std::string target = cfg.String("TARGET", "127.0.0.1:25051");
  const std::string certs = cfg.RequiredString("CERTS_DIR");
  const int concurrency = static_cast<int>(cfg.Int("CONCURRENCY", 16, 1, 512));
  const int64_t limit = cfg.Int("LIMIT", 0, 0, 100000000);
  const int64_t window = cfg.Int("REPORT_EVERY", 0, 0, 100000000);
  const int visits = static_cast<int>(cfg.Int("VISITS", 0, 0, 100));
  const int64_t shuffle_seed = cfg.Int("SHUFFLE_SEED", 0, 0, 1'000'000'000);
  const int64_t offset = cfg.Int("OFFSET", 0, 0, 100'000'000);
  const double rate = static_cast<double>(cfg.Int("RATE", 0, 0, 1'000'000));
  const std::string records_target = cfg.String("RECORDS_TARGET", "127.0.0.1:25052");
  const std::string directory_file = visits > 0 ? cfg.RequiredFile("ORGANISATIONS") : "";
  cfg.ExitIfInvalid();
  // As in the servers (libs/server): Debian's Abseil leaves Mutex deadlock
  // detection on, and gRPC's own locks paid for it here too (0.4% of the
  // machine in a profile of a registration run).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  const bool reorder = shuffle_seed > 0 || offset > 0;
  absl::StatusOr<std::vector<meridian::gen::SyntheticRow>> read =
      meridian::gen::ReadSyntheticCsv(csv, reorder ? 0 : limit);
  if (!read.ok()) {
    std::cerr << "meridian_load: " << read.status() << std::endl;
    return 1;
  }
  if (reorder) {
    std::vector<meridian::gen::SyntheticRow>& all = *read;
    if (shuffle_seed > 0) {
      std::shuffle(all.begin(), all.end(), std::mt19937_64(shuffle_seed));
    }
    const size_t from = std::min<size_t>(all.size(), offset);
    const size_t to = limit > 0 ? std::min<size_t>(all.size(), from + limit) : all.size();
    all = std::vector<meridian::gen::SyntheticRow>(all.begin() + from, all.begin() + to);
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
    // Connected (TCP and TLS handshakes) before the clock starts: an
    // institution keeps its connection, and 40 handshakes in the first
    // second were the run's slowest registrations.
    if (!(*ch)->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::cerr << "meridian_load: cannot connect to " << target << " as " << r.organisation
                << std::endl;
      return 1;
    }
    stubs[r.organisation] = meridian::patient::v1::PatientIndex::NewStub(*ch);
  }

  std::atomic<int64_t> next{0}, errors{0}, late{0};
  std::mutex mu;
  std::vector<double> all, recent;
  int64_t completed = 0;
  absl::Time window_start = absl::Now();
  int64_t window_errors = 0;
  const absl::Time start = absl::Now();
  const absl::Duration cpu_start = ProcessCpu();
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
        if (rate > 0) {
          const absl::Time due = start + absl::Seconds(static_cast<double>(i) / rate);
          if (due > t0) {
            absl::SleepFor(due - t0);
          } else if (t0 - due > absl::Milliseconds(1)) {
            ++late;
          }
          t0 = due;
        }
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
  Report("total", completed, errors, absl::ToDoubleSeconds(absl::Now() - start), all,
         ProcessCpu() - cpu_start);
  if (rate > 0) {
    std::cout << "{\"benchmark\":\"register\",\"rate\":" << rate
              << ",\"late\":" << late.load() << "}" << std::endl;
  }
  if (visits > 0) {
    absl::StatusOr<meridian::orgs::Directory> directory =
        meridian::orgs::Directory::LoadFile(directory_file);
    if (!directory.ok()) {
      std::cerr << "meridian_load: " << directory.status() << std::endl;
      return 1;
    }
    if (!PushVisits(rows, visits, *directory, records_target, certs)) return 1;
  }
  return errors == 0 ? 0 : 1;
}
