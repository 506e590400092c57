// meridian_bench: benchmarks that print one JSON object.
//
//   meridian_bench outbox --events=N [--runs=R] [--batch=B] [--payload_bytes=P]
//       [--batches_per_commit=C]
//       [--bulk=true]
//
// outbox: N events are appended to a scratch schema's outbox (timed on its
// own: append_events_per_second), then drained to Kafka by outbox::Relay
// (events_per_second). Side by side, on the same broker and machine, a bare
// librdkafka producer loop sends the same messages (key, envelope bytes and
// the relay's two headers) with the same producer settings
// (baseline_events_per_second). Runs alternate, a baseline run just before
// each relay run; the machine's noise moves both of a pair alike, so `ratio`
// is the median of the per-pair ratios (relay / baseline); the rates are
// medians too.
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <iostream>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/wrappers.pb.h"
#include "libs/config/config.h"
#include "libs/kafka/kafka.h"
#include "libs/outbox/outbox.h"
#include "libs/outbox/relay.h"
#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "libs/pg/sql.h"
#include "meridian/events/v1/outbox_batch.pb.h"
#include "tools/bench/commands.h"
#include "tools/bench/stats.h"

namespace meridian::bench {
namespace {

void Check(const absl::Status& s) {
  if (!s.ok()) Die(s);
}

// One event as the relay publishes it.
struct BaselineMessage {
  std::string key;
  std::string value;
  std::string event_id;
  std::string event_type;
};

// The bare baseline: produce every message, then flush.
double BareProducerSeconds(const std::string& brokers, const std::string& topic,
                           const std::vector<BaselineMessage>& messages) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(
      RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"bootstrap.servers", brokers},
           {"enable.idempotence", "true"},
           {"acks", "all"},
           {"linger.ms", "5"},
           {"compression.codec", "lz4"},
           {"queue.buffering.max.messages", "200000"}}) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      Die(absl::InvalidArgumentError(err));
    }
  }
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (p == nullptr) Die(absl::InternalError(err));
  // Warm up (connections, producer ID) outside the timing, as for the relay's
  // long-lived producer.
  p->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
             const_cast<char*>("warmup"), 6, nullptr, 0, 0, nullptr);
  p->flush(30000);
  const absl::Time start = absl::Now();
  for (const BaselineMessage& m : messages) {
    while (true) {
      RdKafka::Headers* headers = RdKafka::Headers::create();
      headers->add("meridian-event-id", m.event_id.data(), m.event_id.size());
      headers->add("meridian-event-type", m.event_type.data(), m.event_type.size());
      RdKafka::ErrorCode e = p->produce(
          topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
          const_cast<char*>(m.value.data()), m.value.size(), m.key.data(), m.key.size(),
          0, headers, nullptr);
      if (e == RdKafka::ERR_NO_ERROR) break;  // the producer owns `headers`
      delete headers;
      if (e != RdKafka::ERR__QUEUE_FULL) Die(absl::InternalError(RdKafka::err2str(e)));
      p->poll(10);
    }
    p->poll(0);
  }
  if (p->flush(120000) != RdKafka::ERR_NO_ERROR) {
    Die(absl::DeadlineExceededError("baseline flush"));
  }
  return absl::ToDoubleSeconds(absl::Now() - start);
}

int Outbox(config::Reader& cfg) {
  const std::string uri = cfg.RequiredString("PG_URI");
  const std::string brokers = cfg.RequiredString("KAFKA_BROKERS");
  const int events = static_cast<int>(cfg.Int("EVENTS", 100000, 1, 10000000));
  const int runs = static_cast<int>(cfg.Int("RUNS", 3, 1, 50));
  const int batch = static_cast<int>(cfg.Int("BATCH", 5000, 1, 100000));
  const int batches_per_commit =
      static_cast<int>(cfg.Int("BATCHES_PER_COMMIT", 4, 1, 100));
  const int payload_bytes =
      static_cast<int>(cfg.Int("PAYLOAD_BYTES", 256, 0, 1 << 20));
  // --bulk=true: each transaction appends its 1,000 events with AppendAll,
  // as bulk writers do (they share outbox rows); otherwise one Append each.
  const bool bulk = cfg.Bool("BULK", false);
  cfg.ExitIfInvalid();

  const std::string schema = absl::StrCat("bench_outbox_", getpid());
  pg::Pool pool({.uri = uri, .max_connections = 2, .search_path = schema,
                 .application_name = "meridian-bench"});
  if (absl::StatusOr<int> m = pg::Migrate(pool, schema, {outbox::MigrationSet()});
      !m.ok()) {
    Die(m.status());
  }
  const std::string topic = absl::StrCat("bench.outbox.", getpid());
  const std::string baseline_topic = topic + ".baseline";
  Check(kafka::EnsureTopics(brokers, {{topic, 3, 1}, {baseline_topic, 3, 1}}));

  // Append (timed separately) in transactions of 1000 events.
  // Realistic, barely compressible payloads: pseudo-random text.
  std::mt19937 rng(42);
  auto random_text = [&](int n) {
    static constexpr char kAlphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.:";
    std::string s(n, ' ');
    for (char& c : s) c = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
    return s;
  };
  google::protobuf::StringValue payload;
  const absl::Time append_start = absl::Now();
  for (int done = 0; done < events;) {
    const int n = std::min(1000, events - done);
    Check(pool.Transact([&](pqxx::work& tx) -> absl::Status {
      std::vector<outbox::PendingEvent> pending;
      for (int i = 0; i < n; ++i) {
        payload.set_value(random_text(payload_bytes));
        const outbox::EventHeader header{.topic = topic,
                                         .type = "bench.event",
                                         .key = absl::StrCat("patient-", (done + i) % 997),
                                         .source_organisation = "bench",
                                         .producer = "meridian-bench"};
        if (bulk) {
          auto env = outbox::NewEnvelope(header, payload);
          if (!env.ok()) return env.status();
          pending.push_back({topic, *std::move(env)});
          continue;
        }
        auto env = outbox::Append(tx, header, payload);
        if (!env.ok()) return env.status();
      }
      return outbox::AppendAll(tx, pending);
    }));
    done += n;
  }
  const double append_seconds =
      absl::ToDoubleSeconds(absl::Now() - append_start);

  // Keep a copy to refill the outbox before each run; read the same bytes
  // for the baseline.
  std::vector<BaselineMessage> messages;
  Check(pool.Transact([&](pqxx::work& tx) {
    tx.exec("CREATE TABLE bench_source AS SELECT * FROM outbox");
    for (const auto& row : tx.exec("SELECT event_key, envelope, events, event_id,"
                                   " event_type FROM outbox ORDER BY id")) {
      if (row[2].as<int>() == 1) {
        messages.push_back({row[0].as<std::string>(), pg::ReadBytea(row[1]),
                            row[3].as<std::string>(), row[4].as<std::string>()});
        continue;
      }
      events::v1::OutboxBatch batch;
      batch.ParseFromString(pg::ReadBytea(row[1]));
      for (const auto& e : batch.events()) {
        messages.push_back({e.key(), e.envelope(), e.event_id(), e.event_type()});
      }
    }
    return absl::OkStatus();
  }));

  auto publisher = kafka::MakeKafkaPublisher({.brokers = brokers,
                                              .client_id = "meridian-bench"});
  if (!publisher.ok()) Die(publisher.status());
  outbox::Relay relay(&pool, publisher->get(),
                      {.batch_size = batch, .batches_per_commit = batches_per_commit});
  kafka::Message warmup{topic, "warmup", "warmup", {}};
  Check((*publisher)->PublishBatch({&warmup, 1}, absl::Seconds(30)));

  std::vector<double> relay_seconds, bare_seconds, ratios;
  for (int r = 0; r < runs; ++r) {
    bare_seconds.push_back(BareProducerSeconds(brokers, baseline_topic, messages));

    Check(pool.Transact([](pqxx::work& tx) {
      // The same rows again, unpublished: the watermark goes back to 0.
      tx.exec("TRUNCATE outbox");
      tx.exec("INSERT INTO outbox SELECT * FROM bench_source");
      tx.exec("UPDATE outbox_relay SET published_upto = 0");
      return absl::OkStatus();
    }));
    {
      pqxx::connection c(uri);
      pqxx::nontransaction tx(c);
      tx.exec(absl::StrCat("VACUUM ANALYZE ", tx.quote_name(schema), ".outbox"));
    }
    const absl::Time start = absl::Now();
    int sent = 0;
    while (sent < events) {
      absl::StatusOr<int> n = relay.RunOnce();
      if (!n.ok()) Die(n.status());
      if (*n == 0) Die(absl::InternalError("relay found nothing pending"));
      sent += *n;
    }
    relay_seconds.push_back(absl::ToDoubleSeconds(absl::Now() - start));
    ratios.push_back(bare_seconds.back() / relay_seconds.back());
  }

  Check(pool.Transact([&](pqxx::work& tx) {
    tx.exec("DROP SCHEMA " + tx.quote_name(schema) + " CASCADE");
    return absl::OkStatus();
  }));
  // Each run sent 2 x N messages: leave no topics filling the broker's disk.
  Check(kafka::DeleteTopics(brokers, {topic, baseline_topic}));

  const double s = Median(relay_seconds);
  const double b = Median(bare_seconds);
  std::cout << "{\"benchmark\":\"outbox\",\"events\":" << events
            << ",\"runs\":" << runs << ",\"batch\":" << batch
            << ",\"batches_per_commit\":" << batches_per_commit
            << ",\"payload_bytes\":" << payload_bytes << ",\"bulk\":" << (bulk ? "true" : "false")
            << ",\"envelope_bytes\":" << messages.front().value.size()
            << ",\"seconds\":" << s << ",\"events_per_second\":" << events / s
            << ",\"baseline_seconds\":" << b
            << ",\"baseline_events_per_second\":" << events / b
            << ",\"ratio\":" << Median(ratios)
            << ",\"append_events_per_second\":" << events / append_seconds
            << "}" << std::endl;
  return 0;
}

}  // namespace
}  // namespace meridian::bench

int main(int argc, char** argv) {
  const std::string which = argc >= 2 ? argv[1] : "";
  if (which != "outbox" && which != "mpi" && which != "ingest" && which != "consent" &&
      which != "deid" && which != "analytics" && which != "index-growth") {
    std::cerr << "usage: meridian_bench analytics [--events=N] [--runs=R] [--keep=true]\n"
                 "       meridian_bench consent [--checks=N] [--concurrency=C]\n"
                 "       meridian_bench deid [--events=N] [--patients=P] [--runs=R] [--policy=FILE]\n"
                 "       meridian_bench index-growth [--records=N]\n"
                 "       meridian_bench ingest --service=records --rows=N [--runs=R] "
                 "[--streams=S]\n"
                 "       meridian_bench outbox [--events=N] [--runs=R] "
                 "[--batch=B] [--payload_bytes=P]\n"
                 "       meridian_bench mpi --febrl=FILE [--febrl=FILE2] | --csv=FILE "
                 "[--auto_link_permille=990] [--safety_rules=false] [--weights=true]\n"
                 "(MERIDIAN_PG_URI and MERIDIAN_KAFKA_BROKERS from the "
                 "environment: eval \"$(tools/meridian env)\")"
              << std::endl;
    return 2;
  }
  // "--events N" is accepted as well as "--events=N"; a second --febrl
  // names the file to link the first one to.
  std::vector<std::string> args = {argv[0]};
  int febrl_files = 0;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a.find('=') == std::string::npos &&
        i + 1 < argc) {
      a += "=" + std::string(argv[++i]);
    }
    if (a.rfind("--febrl=", 0) == 0 && ++febrl_files == 2) {
      a = "--febrl2=" + a.substr(8);
    }
    args.push_back(a);
  }
  std::vector<char*> ptrs;
  for (std::string& a : args) ptrs.push_back(a.data());
  meridian::config::Reader cfg = meridian::config::Reader::FromProcess(
      static_cast<int>(ptrs.size()), ptrs.data());
  if (which == "mpi") return meridian::bench::Mpi(cfg);
  if (which == "ingest") return meridian::bench::Ingest(cfg);
  if (which == "consent") return meridian::bench::ConsentCheck(cfg);
  if (which == "deid") return meridian::bench::Deid(cfg);
  if (which == "analytics") return meridian::bench::Analytics(cfg);
  if (which == "index-growth") return meridian::bench::IndexGrowth(cfg);
  return meridian::bench::Outbox(cfg);
}
