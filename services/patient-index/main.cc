// patient-index: wiring only. Settings (MERIDIAN_*): PG_URI, KAFKA_BROKERS,
// ORGANISATIONS, the chassis settings (libs/server), AUTO_LINK_THRESHOLD and
// REVIEW_THRESHOLD (per mille), PG_POOL_SIZE, CANDIDATE_CACHE_ENTRIES,
// GROUP_COMMIT_GROUPS and GROUP_COMMIT_ITEMS (group_commit.h),
// TERM_FREQUENCY_REFRESH_SECONDS (term_frequency_refresher.h; 0: never).
#include <atomic>
#include <iostream>
#include <thread>

#include "absl/synchronization/mutex.h"

#include "libs/config/config.h"
#include "libs/kafka/kafka.h"
#include "libs/orgs/directory.h"
#include "libs/outbox/relay.h"
#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "libs/server/server.h"
#include "libs/server/standard.h"
#include "libs/service/kafka_settings.h"
#include "libs/service/log.h"
#include "libs/service/migrate_only.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "services/patient-index/block_index.h"
#include "services/patient-index/match_settings.h"
#include "services/patient-index/patient_index.h"
#include "services/patient-index/patient_index_service.h"
#include "services/patient-index/pg_patient_store.h"
#include "services/patient-index/term_frequency_refresher.h"

namespace {

constexpr char kSchema[] = "patient_index";

int Fail(const absl::Status& s) { return meridian::service::FailStart("patient-index", s); }

// The cache lacks room for the registry: said once, at start-up or, when the
// registry grows past the cache while the service runs, at the first
// eviction.
void WarnCacheFull(size_t held, size_t capacity, size_t records) {
  meridian::service::LogWarning(
      "patient-index",
      absl::StrCat("the candidate cache is full (", held, " entries held, capacity ", capacity,
                   ", ", records, " records): candidates it lacks are read from PostgreSQL"
                   " (raise CANDIDATE_CACHE_ENTRIES, ~300 bytes each)"));
}

int TrustRank(const meridian::orgs::Directory& d, const std::string& org) {
  const meridian::orgs::Organisation* o = d.Find(org);
  if (o == nullptr) return 0;
  switch (o->type()) {
    case meridian::organisations::v1::TERTIARY_HOSPITAL: return 3;
    case meridian::organisations::v1::SECONDARY_HOSPITAL: return 2;
    case meridian::organisations::v1::TOWNSHIP_HEALTH_CENTRE: return 1;
    default: return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Mutex deadlock detection off, as in service::Main (its cost there).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  using namespace meridian;
  config::Reader cfg = config::Reader::FromProcess(argc, argv);
  if (std::optional<int> code = service::MigrateOnlyIfAsked(cfg, "patient-index", kSchema, patient::AllMigrations())) {
    return *code;
  }
  const std::string pg_uri = cfg.RequiredString("PG_URI");
  const service::KafkaSettings kafka_settings = service::ReadKafkaSettings(cfg);
  const std::string& brokers = kafka_settings.brokers;
  const std::string directory_file = cfg.RequiredFile("ORGANISATIONS");
  const int pool_size = static_cast<int>(cfg.Int("PG_POOL_SIZE", 16, 1, 200));
  // Candidates' match fields kept in memory, about 300 bytes each.
  const int64_t cache_entries = cfg.Int("CANDIDATE_CACHE_ENTRIES", 2'000'000, 0, 100'000'000);
  patient::PatientIndexOptions options;
  options.match.auto_link_threshold =
      cfg.Int("AUTO_LINK_THRESHOLD", 990, 1, 1000) / 1000.0;
  options.match.review_threshold =
      cfg.Int("REVIEW_THRESHOLD", 500, 1, 1000) / 1000.0;
  // Blocking caps: the newest this many records per key when matching a
  // registration (wider when training and searching), this many in all.
  patient::ReadBlockingCaps(cfg, options.match);
  // Registrations that arrive together commit together: at most this many
  // transactions of registrations at once, of at most this many each. Two
  // rather than four: groups twice the size, a fifth less of PostgreSQL's
  // CPU per registration at 1,000/s, the same p99 (BENCHMARKS.md); one
  // runs groups one after the other and the queue grows.
  options.group_commit.max_groups =
      static_cast<int>(cfg.Int("GROUP_COMMIT_GROUPS", 2, 1, 64));
  options.group_commit.max_items =
      static_cast<int>(cfg.Int("GROUP_COMMIT_ITEMS", 32, 1, 1000));
  // The term frequencies reloaded this often (one scan of the records with
  // grouping sets: about 2 s of PostgreSQL's time at 2.2 million), so that
  // the discount of a common name follows the registry as it grows.
  const int64_t tf_refresh_seconds =
      cfg.Int("TERM_FREQUENCY_REFRESH_SECONDS", 3600, 0, 7 * 86400);
  cfg.Set("MAX_MESSAGE_BYTES",
          cfg.String("MAX_MESSAGE_BYTES",
                     std::to_string(patient::kMaxMessageBytes)));
  // --train=true: re-estimate the matching weights from the registry, print
  // them, store them (the service loads the newest at start), and exit.
  const bool train = cfg.Bool("TRAIN", false);
  server::ServerOptions server_options =
      train ? server::ServerOptions{} : server::ServerOptionsFromConfig(cfg, "patient-index");
  cfg.ExitIfInvalid();
  service::UseKafkaIdentity(kafka_settings);

  absl::StatusOr<orgs::Directory> directory = orgs::Directory::LoadFile(directory_file);
  if (!directory.ok()) return Fail(directory.status());
  options.trust_rank = [&](const std::string& org) { return TrustRank(*directory, org); };

  // Generic plans: each statement's was checked at 1,000,000 patients
  // (BENCHMARKS.md), and re-planning them cost a fifth of PostgreSQL's CPU.
  // No JIT: it compiled the key index's catch-up, a short statement whose
  // generic plan estimated many rows, at every call (~15 ms).
  pg::Pool pool({.uri = pg_uri, .max_connections = pool_size,
                 .search_path = kSchema, .application_name = "patient-index",
                 .generic_plans = true, .jit = false});
  absl::StatusOr<int> migrated = pg::Migrate(pool, kSchema, patient::AllMigrations());
  if (!migrated.ok()) return Fail(migrated.status());
  patient::PgPatientStore store(&pool, static_cast<size_t>(cache_entries));
  patient::Model model;
  if (train) {
    absl::StatusOr<std::vector<patient::MatchRecord>> records = store.AllMatchRecords();
    if (!records.ok()) return Fail(records.status());
    std::vector<std::pair<int, int>> pairs = patient::CandidatePairs(
        *records, options.match.wide_candidates_per_key, options.match.max_candidates);
    int iterations = model.Train(*records, pairs);
    std::cout << "trained on " << records->size() << " records, " << pairs.size()
              << " candidate pairs, " << iterations << " EM iterations\n"
              << model.Describe();
    absl::Status saved = store.SaveModel(model.SerializeParameters(),
                                         static_cast<int>(records->size()),
                                         static_cast<int>(pairs.size()));
    return saved.ok() ? 0 : Fail(saved);
  }
  absl::StatusOr<std::string> saved = store.LoadModel();
  if (!saved.ok()) return Fail(saved.status());
  if (!saved->empty()) {
    absl::StatusOr<patient::ModelParameters> params =
        patient::Model::ParseParameters(*saved);
    if (!params.ok()) return Fail(params.status());
    model = patient::Model(*params);
  }
  // Term frequencies of the registry as it stands at start (GROUP BY in the
  // database: start-up does not read every record).
  absl::StatusOr<patient::TermFrequencies> tf = store.LoadTermFrequencies();
  if (!tf.ok()) return Fail(tf.status());
  model.set_term_frequencies(*std::move(tf));

  absl::Status topics = service::EnsureTopics(
      kafka_settings, {{patient::kPatientTopic, 6, 1},
                {std::string(patient::kPatientTopic) + ".dlt", 1, 1}});
  if (!topics.ok()) return Fail(topics);
  auto publisher = kafka::MakeKafkaPublisher({.brokers = brokers,
                                              .client_id = "patient-index"});
  if (!publisher.ok()) return Fail(publisher.status());

  // Every record's blocking keys into memory (and the newest records' match
  // fields into the candidate cache) before serving: candidates come from
  // there.
  const absl::Time load_start = absl::Now();
  absl::StatusOr<int64_t> loaded = store.Load();
  if (!loaded.ok()) return Fail(loaded.status());
  service::LogInfo("patient-index",
                   absl::StrCat("loaded the blocking keys of ", *loaded, " records (",
                                store.key_index().keys(), " keys) in ",
                                absl::FormatDuration(absl::Now() - load_start)));
  // Held fewer than loaded: some did not fit.
  const bool cache_full = store.cache().size() < static_cast<size_t>(*loaded);
  if (cache_full) WarnCacheFull(store.cache().size(), store.cache().capacity(), *loaded);
  // The index owns the model from here: a refresh releases it.
  patient::PatientIndex index(&store, std::make_shared<patient::Model>(std::move(model)),
                              options);
  patient::TermFrequencyRefresher refresher(
      &index, [&] { return store.LoadTermFrequencies(); },
      absl::Seconds(tf_refresh_seconds), [](const absl::Status& status) {
        if (status.ok()) {
          service::LogInfo("patient-index", "reloaded the term frequencies");
        } else {
          service::LogError("patient-index", status);
        }
      });
  if (tf_refresh_seconds > 0) refresher.Start();
  patient::PatientIndexService service(&index, &*directory);
  // Events gather 40 ms after a partial batch instead of 10: at 1,000
  // registrations/s that halves the relay's polls (its statements, its
  // broker requests) for at most 30 ms more on an event's way to Kafka
  // (BENCHMARKS.md, ninth session).
  outbox::Relay relay(&pool, publisher->get(), {.busy_wait = absl::Milliseconds(40)});
  std::thread relay_thread([&] { relay.Run(); });
  server::Server srv(server_options, &*directory);
  srv.AddService(&service);
  server::AddStandardChecks(srv, pool, brokers, &relay);
  // The candidate cache: lookups by result (a miss is a candidate read from
  // PostgreSQL), evictions, and its size.
  auto& lookups = prometheus::BuildCounter()
                      .Name("meridian_patient_candidate_cache_lookups_total")
                      .Help("Candidates looked up in the in-memory cache, by result")
                      .Register(*srv.metrics());
  prometheus::Counter& hits = lookups.Add({{"result", "hit"}});
  prometheus::Counter& misses = lookups.Add({{"result", "miss"}});
  prometheus::Counter& evicted = prometheus::BuildCounter()
                                     .Name("meridian_patient_candidate_cache_evictions_total")
                                     .Help("Candidate cache entries dropped to make room")
                                     .Register(*srv.metrics())
                                     .Add({});
  auto& entries = prometheus::BuildGauge()
                      .Name("meridian_patient_candidate_cache_entries")
                      .Help("Candidate cache entries held, and its capacity")
                      .Register(*srv.metrics());
  prometheus::Gauge& held = entries.Add({{"state", "held"}});
  entries.Add({{"state", "capacity"}}).Set(static_cast<double>(store.cache().capacity()));
  srv.AddPeriodic([&, last = patient::CandidateCache::Stats{},
                   warned = cache_full]() mutable {
    const patient::CandidateCache::Stats now = store.cache().stats();
    if (!warned && now.evicted > 0) {
      WarnCacheFull(store.cache().size(), store.cache().capacity(),
                    store.key_index().records());
      warned = true;
    }
    hits.Increment(static_cast<double>(now.hits - last.hits));
    misses.Increment(static_cast<double>(now.misses - last.misses));
    evicted.Increment(static_cast<double>(now.evicted - last.evicted));
    last = now;
    held.Set(static_cast<double>(store.cache().size()));
  });
  srv.OnShutdown([&] {
    relay.Stop();
    if (relay_thread.joinable()) relay_thread.join();
    (void)(*publisher)->Flush(absl::Seconds(10));
    refresher.Stop();  // last: it may wait for a reload under way
  });
  absl::Status started = srv.Start();
  if (!started.ok()) {
    relay.Stop();
    if (relay_thread.joinable()) relay_thread.join();
    return Fail(started);
  }
  srv.Wait();
  return 0;
}
