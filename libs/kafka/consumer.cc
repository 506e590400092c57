#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <iostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/kafka/kafka.h"
#include "libs/kafka/rdkafka_util.h"

namespace meridian::kafka {

bool IsTransient(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

namespace {

// Eager rebalancing: commit what was processed before giving partitions up.
class Rebalancer : public RdKafka::RebalanceCb {
 public:
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      consumer->assign(partitions);
    } else {
      consumer->commitSync();  // stored offsets of handled messages only
      consumer->unassign();
    }
  }
};

ConsumedMessage Copy(RdKafka::Message& m) {
  ConsumedMessage out;
  out.topic = m.topic_name();
  out.partition = m.partition();
  out.offset = m.offset();
  if (m.key() != nullptr) out.key = *m.key();
  out.value.assign(static_cast<const char*>(m.payload()), m.len());
  if (RdKafka::Headers* h = m.headers()) {
    for (const RdKafka::Headers::Header& header : h->get_all()) {
      out.headers.emplace_back(
          header.key(),
          std::string(static_cast<const char*>(header.value()),
                      header.value_size()));
    }
  }
  return out;
}

class KafkaConsumer : public Consumer {
 public:
  KafkaConsumer(ConsumerOptions options, Publisher* dead_letters,
                std::unique_ptr<Rebalancer> rebalancer,
                std::unique_ptr<RdKafka::KafkaConsumer> consumer)
      : options_(std::move(options)),
        dead_letters_(dead_letters),
        rebalancer_(std::move(rebalancer)),
        consumer_(std::move(consumer)) {}

  ~KafkaConsumer() override { consumer_->close(); }

  absl::Status Run(const Handler& handler) override {
    RdKafka::ErrorCode err = consumer_->subscribe(options_.topics);
    if (err != RdKafka::ERR_NO_ERROR) return StatusFromKafka(err, "subscribe");
    while (!stop_) {
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
      switch (m->err()) {
        case RdKafka::ERR_NO_ERROR:
          (void)Dispatch(*m, handler);
          break;
        case RdKafka::ERR__TIMED_OUT:
        case RdKafka::ERR__PARTITION_EOF:
          break;
        default:
          // Broker down, coordinator moving...: librdkafka recovers by itself.
          break;
      }
    }
    consumer_->commitSync();
    return absl::OkStatus();
  }

  absl::Status RunBatched(const BatchHandler& batch, const Handler& single,
                          int max_batch) override {
    if (max_batch < 1) return absl::InvalidArgumentError("max_batch: must be at least 1");
    RdKafka::ErrorCode err = consumer_->subscribe(options_.topics);
    if (err != RdKafka::ERR_NO_ERROR) return StatusFromKafka(err, "subscribe");
    std::vector<std::unique_ptr<RdKafka::Message>> raw;
    std::vector<ConsumedMessage> copies;
    while (!stop_) {
      raw.clear();
      copies.clear();
      // The first message waits; the rest only if already fetched.
      for (int timeout = 100; static_cast<int>(raw.size()) < max_batch; timeout = 0) {
        std::unique_ptr<RdKafka::Message> m(consumer_->consume(timeout));
        if (m->err() != RdKafka::ERR_NO_ERROR) break;
        copies.push_back(Copy(*m));
        raw.push_back(std::move(m));
      }
      if (raw.empty()) continue;
      if (batch(copies).ok()) {
        for (auto& m : raw) Store(*m);
        continue;
      }
      // One by one; once one is rewound, every partition it and the rest
      // belong to goes back to its first unhandled message, keeping order.
      std::set<std::pair<std::string, int32_t>> rewound;
      for (auto& m : raw) {
        const std::pair<std::string, int32_t> partition{m->topic_name(), m->partition()};
        if (!rewound.empty()) {
          if (rewound.insert(partition).second) Rewind(*m);
          continue;
        }
        if (!Dispatch(*m, single)) rewound.insert(partition);
      }
    }
    consumer_->commitSync();
    return absl::OkStatus();
  }

  void Stop() override { stop_ = true; }

 private:
  // True when the message is done (handled or dead-lettered); false when it
  // was rewound to be consumed again.
  bool Dispatch(RdKafka::Message& raw, const Handler& handler) {
    ConsumedMessage m = Copy(raw);
    absl::Duration backoff = options_.initial_backoff;
    int attempts = 0;
    absl::Status s;
    while (!stop_) {
      s = handler(m);
      ++attempts;
      if (s.ok()) {
        Store(raw);
        return true;
      }
      if (!IsTransient(s) && attempts >= options_.max_attempts) {
        if (DeadLetter(m, s, attempts).ok()) {
          Store(raw);
          return true;
        }
        // The DLT is unreachable too: keep the message and retry later.
      }
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
      if (attempts % 20 == 0) {
        // Stay in the group while a dependency is down: rewind to this
        // message and go back to polling.
        Rewind(raw);
        return false;
      }
    }
    Rewind(raw);  // stopping: the message is redelivered to the next owner
    return false;
  }

  void Store(RdKafka::Message& m) {
    RdKafka::TopicPartition* tp = RdKafka::TopicPartition::create(
        m.topic_name(), m.partition(), m.offset() + 1);
    std::vector<RdKafka::TopicPartition*> offsets = {tp};
    consumer_->offsets_store(offsets);
    delete tp;
  }

  void Rewind(RdKafka::Message& m) {
    std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(
        m.topic_name(), m.partition(), m.offset()));
    consumer_->seek(*tp, 1000);
  }

  absl::Status DeadLetter(const ConsumedMessage& m, const absl::Status& error,
                          int attempts) {
    Message dlt;
    dlt.topic = m.topic + options_.dead_letter_suffix;
    dlt.key = m.key;
    dlt.value = m.value;
    dlt.headers = m.headers;
    dlt.headers.emplace_back("meridian-dlt-error", error.ToString());
    dlt.headers.emplace_back("meridian-dlt-source",
                             absl::StrCat(m.topic, "/", m.partition, "@",
                                          m.offset));
    dlt.headers.emplace_back("meridian-dlt-attempts", absl::StrCat(attempts));
    dlt.headers.emplace_back("meridian-dlt-group", options_.group_id);
    return dead_letters_->PublishBatch({&dlt, 1}, absl::Seconds(30));
  }

  const ConsumerOptions options_;
  Publisher* dead_letters_;
  std::unique_ptr<Rebalancer> rebalancer_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::atomic<bool> stop_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Consumer>> MakeKafkaConsumer(
    const ConsumerOptions& options, Publisher* dead_letters) {
  if (options.group_id.empty()) {
    return absl::InvalidArgumentError("kafka consumer: group_id is required");
  }
  if (options.topics.empty()) {
    return absl::InvalidArgumentError("kafka consumer: topics are required");
  }
  auto rebalancer = std::make_unique<Rebalancer>();
  ConfBuilder conf;
  conf.Set("bootstrap.servers", options.brokers)
      .Set("group.id", options.group_id)
      .Set("client.id", options.client_id)
      .Set("enable.auto.commit", "true")
      // Offsets are stored only after the handler succeeded, so the periodic
      // auto-commit never commits an unprocessed message.
      .Set("enable.auto.offset.store", "false")
      .Set("auto.commit.interval.ms", "1000")
      .Set("auto.offset.reset", options.auto_offset_reset)
      .Set("isolation.level", "read_committed")
      .Set("partition.assignment.strategy", "range,roundrobin")
      // A consumer killed without leaving its group holds its partitions
      // until its session expires; the default 45 s left a restarted
      // service's consumers idle that long (tests/fault). Heartbeats come
      // from librdkafka's own thread, so a slow handler does not expire it.
      .Set("session.timeout.ms", "10000")
      .Set("heartbeat.interval.ms", "3000")
      .Set("log_level", "3")
      .SetRebalance(rebalancer.get());
  if (!conf.status().ok()) return conf.status();
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), err));
  if (consumer == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("kafka consumer: ", err));
  }
  return std::unique_ptr<Consumer>(new KafkaConsumer(
      options, dead_letters, std::move(rebalancer), std::move(consumer)));
}

}  // namespace meridian::kafka
