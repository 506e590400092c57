// meridian_bench ingest --service=records --rows=N [--runs=R] [--streams=S]
//     [--target=127.0.0.1:25052] [--organisation=city-hosp-1]
//
// Pushes N synthetic encounters (two diagnoses each, fresh local IDs every
// run) through the running records service's PushRecords stream (S streams
// at once, at most 100,000 items each): validation, PostgreSQL, outbox, over
// mTLS, 500 items per stream message. Timed from the first write to the last acknowledged stream; every
// item must succeed. Then, side by side on the same database, COPYs the same
// rows (as the service stores them: records::RowFor) into a table created
// LIKE records.record INCLUDING ALL in schema records_bench, in one
// transaction. Runs alternate; medians are printed as one JSON object:
// rows, seconds, rows_per_second, copy_rows_per_second, ratio
// (= rows_per_second / copy_rows_per_second), and outbox_drain_seconds: how
// long after the last acknowledgement the relay needed to publish every
// event to Kafka. Before each run earlier runs' rows are removed from the
// service's record tables (RemoveBenchRows): both sides start every run from
// an empty, or nearly empty, table.
#include "tools/bench/commands.h"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "libs/pg/pool.h"
#include "libs/server/client.h"
#include "meridian/records/v1/records.grpc.pb.h"
#include "services/records/pg_record_store.h"
#include "services/records/records.h"
#include "tools/bench/stats.h"

namespace meridian::bench {
namespace {

namespace v1 = ::meridian::records::v1;

// N outpatient visits over the last two years by N/5 patients, each with a
// primary and a secondary diagnosis from common chronic conditions.
std::vector<v1::RecordItem> Encounters(int n, const std::string& run, uint32_t seed) {
  static const char* kCodes[] = {"I10", "E11.9", "J44.9", "I25.1", "E78.5",
                                 "K21.9", "M54.5", "J06.9", "N39.0", "F32.9"};
  static const char* kDepartments[] = {"Internal Medicine", "Endocrinology", "Cardiology",
                                       "Respiratory", "General Practice"};
  std::mt19937 rng(seed);
  const int64_t now = absl::ToUnixSeconds(absl::Now()) - 3 * 3600;
  std::vector<v1::RecordItem> out(n);
  for (int i = 0; i < n; ++i) {
    v1::Encounter* e = out[i].mutable_encounter();
    e->set_local_id(absl::StrCat("B", run, "-", i));
    e->set_patient_local_id(absl::StrCat("BP-", rng() % std::max(1, n / 5)));
    e->set_encounter_class(v1::OUTPATIENT);
    const int64_t start = now - static_cast<int64_t>(rng() % (730 * 86400));
    e->mutable_start_time()->set_seconds(start);
    e->mutable_end_time()->set_seconds(start + 900 + rng() % 3600);
    e->set_department(kDepartments[rng() % 5]);
    e->set_attending_clinician(absl::StrCat("DR-", 1000 + rng() % 400));
    auto* primary = e->add_diagnoses();
    primary->set_icd10_code(kCodes[rng() % 10]);
    primary->set_primary(true);
    e->add_diagnoses()->set_icd10_code(kCodes[rng() % 10]);
  }
  return out;
}

// Items per stream message, as a hospital system's bulk export would send.
constexpr int kItemsPerMessage = 500;

// One PushRecords stream per slice of at most kMaxBulkItems items; `streams`
// slices in flight. Returns the seconds from the first write to the last
// acknowledgement.
double PushAll(const std::shared_ptr<grpc::Channel>& channel,
               const std::vector<v1::RecordItem>& items, int streams) {
  const size_t slice = std::min<size_t>(
      records::kMaxBulkItems, (items.size() + streams - 1) / streams);
  std::atomic<size_t> next{0};
  std::atomic<int> failed{0};
  std::string first_error;
  std::mutex mu;
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < streams; ++t) {
    threads.emplace_back([&] {
      auto stub = v1::Records::NewStub(channel);
      while (true) {
        const size_t begin = next.fetch_add(slice);
        if (begin >= items.size()) return;
        const size_t end = std::min(items.size(), begin + slice);
        auto ctx = server::NewContext(absl::Minutes(30));
        v1::PushRecordsResponse response;
        auto writer = stub->PushRecords(ctx.get(), &response);
        v1::RecordBatch batch;
        for (size_t i = begin; i < end; ++i) {
          *batch.add_items() = items[i];
          if (batch.items_size() == kItemsPerMessage || i + 1 == end) {
            if (!writer->Write(batch)) break;
            batch.Clear();
          }
        }
        writer->WritesDone();
        grpc::Status s = writer->Finish();
        std::lock_guard<std::mutex> lock(mu);
        if (!s.ok()) {
          failed += static_cast<int>(end - begin);
          if (first_error.empty()) first_error = s.error_message();
          continue;
        }
        failed += response.failed();
        for (const auto& r : response.results()) {
          if (r.code() != 0 && first_error.empty()) first_error = r.error();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (failed > 0) Die(absl::StrCat(failed.load(), " items failed, first: ", first_error));
  return seconds;
}

// Removes earlier runs' rows from the service's record tables so that both
// sides of every run start from the same, nearly empty table: TRUNCATE when
// the tables hold nothing but this benchmark's rows (local IDs
// "B<stamp>r<run>-<n>"), else DELETE exactly those rows and VACUUM; other
// data is never touched.
void RemoveBenchRows(pg::Pool& pool) {
  constexpr char kBenchRow[] = "local_id ~ '^B[0-9]+r[0-9]+-[0-9]+$'";
  absl::StatusOr<bool> others = pool.Transact([&](pqxx::work& tx) {
    return tx.exec1(absl::StrCat("SELECT EXISTS (SELECT 1 FROM records.record WHERE NOT ",
                                 kBenchRow, ")"))[0]
        .as<bool>();
  });
  if (!others.ok()) Die(std::string(others.status().message()));
  try {
    pqxx::connection conn(pool.options().uri);
    pqxx::nontransaction tx(conn);
    if (!*others) {
      tx.exec("TRUNCATE records.record, records.record_history");
      return;
    }
    std::cerr << "records.record holds other data too: deleting only the benchmark's rows"
              << std::endl;
    tx.exec(absl::StrCat("DELETE FROM records.record WHERE ", kBenchRow));
    tx.exec(absl::StrCat("DELETE FROM records.record_history WHERE ", kBenchRow));
    tx.exec("VACUUM (ANALYZE) records.record");
  } catch (const std::exception& e) {
    Die(e.what());
  }
}

int64_t PendingOutbox(pg::Pool& pool) {
  absl::StatusOr<int64_t> n = pool.Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FROM records.outbox")[0].as<int64_t>();
  });
  if (!n.ok()) Die(std::string(n.status().message()));
  return *n;
}

double CopySeconds(pg::Pool& pool, const std::vector<records::RecordRow>& rows) {
  absl::Status reset = pool.Transact([](pqxx::work& tx) {
    tx.exec("DROP SCHEMA IF EXISTS records_bench CASCADE");
    tx.exec("CREATE SCHEMA records_bench");
    tx.exec("CREATE TABLE records_bench.record (LIKE records.record INCLUDING ALL)");
    return absl::OkStatus();
  });
  if (!reset.ok()) Die(std::string(reset.message()));
  std::vector<const records::RecordRow*> pointers;
  for (const auto& r : rows) pointers.push_back(&r);
  const absl::Time start = absl::Now();
  absl::Status copied = pool.Transact([&](pqxx::work& tx) {
    records::CopyFirstVersions(tx, "records_bench.record", pointers);
    return absl::OkStatus();
  });
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!copied.ok()) Die(std::string(copied.message()));
  return seconds;
}

}  // namespace

int Ingest(config::Reader& cfg) {
  const std::string service = cfg.String("SERVICE", "records");
  const int rows = static_cast<int>(cfg.Int("ROWS", 100000, 1, 20000000));
  const int runs = static_cast<int>(cfg.Int("RUNS", 1, 1, 20));
  const int streams = static_cast<int>(cfg.Int("STREAMS", 2, 1, 64));
  const std::string target = cfg.String("TARGET", "127.0.0.1:25052");
  const std::string organisation = cfg.String("ORGANISATION", "city-hosp-1");
  const std::string certs = cfg.RequiredString("CERTS_DIR");
  const std::string pg_uri = cfg.RequiredString("PG_URI");
  cfg.ExitIfInvalid();
  if (service != "records") Die("only --service=records has an ingest benchmark so far");

  auto channel = server::MakeChannel(
      target, {certs + "/ca.pem", certs + "/" + organisation + ".pem",
               certs + "/" + organisation + ".key"});
  if (!channel.ok()) Die(std::string(channel.status().message()));
  pg::Pool pool({.uri = pg_uri, .max_connections = 2, .application_name = "bench"});

  std::vector<double> ours, copies, drains;
  const std::string stamp = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
  for (int run = 0; run < runs; ++run) {
    const std::string run_id = absl::StrCat(stamp, "r", run);
    std::vector<v1::RecordItem> items = Encounters(rows, run_id, 7 + run);
    std::vector<records::RecordRow> copy_rows;
    copy_rows.reserve(rows);
    for (const auto& item : items) copy_rows.push_back(*records::RowFor(organisation, item));

    RemoveBenchRows(pool);
    const double pushed = PushAll(*channel, items, streams);
    const absl::Time acked = absl::Now();
    while (PendingOutbox(pool) > 0) absl::SleepFor(absl::Milliseconds(100));
    drains.push_back(absl::ToDoubleSeconds(absl::Now() - acked));
    ours.push_back(rows / pushed);
    copies.push_back(rows / CopySeconds(pool, copy_rows));

    std::cerr << "run " << run + 1 << "/" << runs << ": service " << ours.back()
              << " rows/s, COPY " << copies.back() << " rows/s, outbox drained in "
              << drains.back() << " s" << std::endl;
  }
  absl::Status dropped = pool.Transact([](pqxx::work& tx) {
    tx.exec("DROP SCHEMA IF EXISTS records_bench CASCADE");
    return absl::OkStatus();
  });
  (void)dropped;
  const double rps = Median(ours), copy_rps = Median(copies);
  std::cout << "{\"service\":\"records\",\"rows\":" << rows << ",\"runs\":" << runs
            << ",\"streams\":" << streams << ",\"seconds\":" << rows / rps
            << ",\"rows_per_second\":" << rps << ",\"copy_rows_per_second\":" << copy_rps
            << ",\"ratio\":" << rps / copy_rps
            << ",\"outbox_drain_seconds\":" << Median(drains) << "}" << std::endl;
  return 0;
}

}  // namespace meridian::bench
