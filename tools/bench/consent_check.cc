// meridian_bench consent [--checks=N] [--concurrency=C] [--rate=R]
//     [--patients=P] [--target=127.0.0.1:25053]
//
// Against the running consent service: P synthetic patients are made known
// to it (rows in its cross-reference copy, organisation "bench") and the
// patient portal grants each three directives over gRPC (deny everyone
// records, permit one named hospital, permit secondary hospitals for labs).
// Then C client threads, each on its own mTLS channel as the records service
// (svc-records), call Check N times in all, with random patients, accessors,
// categories and purposes: back to back, or at a fixed total rate R (open
// loop; latency from each check's scheduled time). Prints one JSON object: checks,
// concurrency, checks_per_second, and client-side latency percentiles
// (p50_ms, p90_ms, p99_ms, max_ms), and the service's own view from its
// /metrics histogram (server_p99_at_most_ms: the smallest bucket bound that
// holds 99% of the run's checks, handler time inside the service). Removes
// its patients and directives at the end.
#include "tools/bench/commands.h"

#include <algorithm>
#include <limits>
#include <map>
#include <atomic>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/ids/uuid.h"
#include "libs/pg/pool.h"
#include "libs/pg/sql.h"
#include "libs/server/client.h"
#include "libs/server/testing.h"
#include "meridian/consent/v1/consent.grpc.pb.h"
#include "tools/bench/stats.h"

namespace meridian::bench {
namespace {

namespace v1 = ::meridian::consent::v1;

// The service's own histogram of Check durations (its /metrics), as
// cumulative counts per upper bound in seconds.
std::map<double, double> CheckHistogram(int metrics_port) {
  std::map<double, double> out;
  const std::string text = server::testing::HttpGet(metrics_port, "/metrics");
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "meridian_rpc_duration_seconds_bucket{") ||
        !absl::StrContains(line, "method=\"/meridian.consent.v1.Consent/Check\"")) {
      continue;
    }
    const size_t le = line.find("le=\"");
    const size_t end = line.find('"', le + 4);
    const size_t space = line.rfind(' ');
    if (le == absl::string_view::npos || end == absl::string_view::npos) continue;
    const absl::string_view bound = line.substr(le + 4, end - le - 4);
    double b = 0, count = 0;
    if (bound == "+Inf") {
      b = std::numeric_limits<double>::infinity();
    } else if (!absl::SimpleAtod(bound, &b)) {
      continue;
    }
    if (!absl::SimpleAtod(line.substr(space + 1), &count)) continue;
    out[b] = count;
  }
  return out;
}

}  // namespace

int ConsentCheck(config::Reader& cfg) {
  const int checks = static_cast<int>(cfg.Int("CHECKS", 20000, 1, 10000000));
  const int concurrency = static_cast<int>(cfg.Int("CONCURRENCY", 4, 1, 64));
  const int patients = static_cast<int>(cfg.Int("PATIENTS", 1000, 1, 100000));
  // 0: closed loop (back to back). R > 0: open loop at R checks/s in all,
  // latency counted from each check's scheduled time (so a stall is not
  // hidden by the requests it delayed).
  const int rate = static_cast<int>(cfg.Int("RATE", 0, 0, 1000000));
  const std::string target = cfg.String("TARGET", "127.0.0.1:25053");
  const std::string certs = cfg.RequiredString("CERTS_DIR");
  const std::string pg_uri = cfg.RequiredString("PG_URI");
  // The service's /metrics, for its own (server-side) durations.
  const std::string metrics_addr = cfg.String("CONSENT_METRICS_ADDR", "127.0.0.1:9103");
  cfg.ExitIfInvalid();
  int metrics_port = 0;
  if (!absl::SimpleAtoi(metrics_addr.substr(metrics_addr.rfind(':') + 1), &metrics_port)) {
    Die("CONSENT_METRICS_ADDR: not host:port");
  }
  auto tls = [&](const std::string& who) {
    return server::ClientTls{certs + "/ca.pem", certs + "/" + who + ".pem",
                             certs + "/" + who + ".key"};
  };

  // Patients the consent service knows, and their directives.
  std::vector<std::string> ids;
  for (int i = 0; i < patients; ++i) ids.push_back(ids::NewUuid());
  pg::Pool pool({.uri = pg_uri, .max_connections = 1, .application_name = "bench"});
  absl::Status known = pool.Transact([&](pqxx::work& tx) {
    for (int i = 0; i < patients; ++i) {
      tx.exec_params("INSERT INTO consent.xref VALUES ('bench', $1, $2, now())",
                     absl::StrCat("BENCH-", ids[i]), ids[i]);
    }
    return absl::OkStatus();
  });
  if (!known.ok()) Die(std::string(known.message()));
  auto portal_channel = server::MakeChannel(target, tls("patient-portal"));
  if (!portal_channel.ok()) Die(std::string(portal_channel.status().message()));
  auto portal = v1::Consent::NewStub(*portal_channel);
  for (const std::string& id : ids) {
    for (int k = 0; k < 3; ++k) {
      v1::GrantRequest g;
      v1::Directive* d = g.mutable_directive();
      d->set_regional_id(id);
      if (k == 0) {
        d->set_effect(v1::DENY);
        d->add_categories(v1::RECORDS);
        d->mutable_recipients()->set_everyone(true);
      } else if (k == 1) {
        d->set_effect(v1::PERMIT);
        d->mutable_recipients()->mutable_organisations()->add_ids("city-hosp-1");
      } else {
        d->set_effect(v1::PERMIT);
        d->add_categories(v1::LABS);
        d->mutable_recipients()->mutable_organisation_types()->add_types(
            organisations::v1::SECONDARY_HOSPITAL);
      }
      v1::Directive out;
      auto ctx = server::NewContext(absl::Seconds(10));
      grpc::Status s = portal->Grant(ctx.get(), g, &out);
      if (!s.ok()) Die("grant: " + s.error_message());
    }
  }

  static const char* kAccessors[] = {"city-hosp-1", "county-hosp-east", "county-hosp-west",
                                     "thc-riverside", "city-tcm-hosp"};
  const std::map<double, double> before = CheckHistogram(metrics_port);
  std::atomic<int> next{0}, failed{0};
  std::vector<std::vector<double>> latencies(concurrency);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      auto channel = server::MakeChannel(target, tls("svc-records"));
      if (!channel.ok()) {
        ++failed;
        return;
      }
      auto stub = v1::Consent::NewStub(*channel);
      std::mt19937 rng(t);
      const absl::Duration interval =
          rate > 0 ? absl::Seconds(1) * concurrency / rate : absl::ZeroDuration();
      absl::Time scheduled = absl::Now();
      while (next.fetch_add(1) < checks) {
        if (rate > 0) {
          scheduled += interval;
          absl::SleepFor(scheduled - absl::Now());
        }
        v1::CheckRequest r;
        r.set_accessor_organisation(kAccessors[rng() % 5]);
        r.set_regional_id(ids[rng() % ids.size()]);
        r.set_category(static_cast<v1::DataCategory>(1 + rng() % 4));
        r.set_purpose(rng() % 10 == 0 ? v1::PUBLIC_HEALTH : v1::TREATMENT);
        v1::CheckResponse out;
        auto ctx = server::NewContext(absl::Seconds(5));
        const absl::Time t0 = rate > 0 ? scheduled : absl::Now();
        grpc::Status s = stub->Check(ctx.get(), r, &out);
        latencies[t].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
        if (!s.ok()) ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  // Server side: the smallest histogram bound holding 99% of this run.
  const std::map<double, double> after = CheckHistogram(metrics_port);
  double server_total = 0, server_p99_bound = 0;
  if (auto inf = after.find(std::numeric_limits<double>::infinity()); inf != after.end()) {
    server_total = inf->second - (before.count(inf->first) ? before.at(inf->first) : 0);
  }
  for (const auto& [bound, count] : after) {
    const double n = count - (before.count(bound) ? before.at(bound) : 0);
    if (server_total > 0 && n >= 0.99 * server_total) {
      server_p99_bound = bound;
      break;
    }
  }

  absl::Status cleaned = pool.Transact([&](pqxx::work& tx) {
    tx.exec_params("DELETE FROM consent.directive WHERE regional_id = ANY($1::uuid[])",
                   pg::TextArray(ids));
    tx.exec("DELETE FROM consent.xref WHERE organisation_id = 'bench'");
    return absl::OkStatus();
  });
  if (!cleaned.ok()) Die(std::string(cleaned.message()));
  if (failed > 0) Die(absl::StrCat(failed.load(), " checks failed"));

  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::cout << "{\"benchmark\":\"consent_check\",\"checks\":" << all.size()
            << ",\"concurrency\":" << concurrency << ",\"rate\":" << rate
            << ",\"patients\":" << patients
            << ",\"checks_per_second\":" << all.size() / seconds
            << ",\"p50_ms\":" << Percentile(all, 0.50) << ",\"p90_ms\":" << Percentile(all, 0.90)
            << ",\"p99_ms\":" << Percentile(all, 0.99) << ",\"max_ms\":" << Percentile(all, 1.0)
            << ",\"server_checks\":" << server_total
            << ",\"server_p99_at_most_ms\":" << server_p99_bound * 1000 << "}" << std::endl;
  return 0;
}

}  // namespace meridian::bench
