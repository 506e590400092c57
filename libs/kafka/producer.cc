#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "libs/kafka/kafka.h"
#include "libs/kafka/rdkafka_util.h"

namespace meridian::kafka {
namespace {

// Shared by the messages of one PublishBatch call; freed by whichever of the
// caller and the last delivery report lets go of it last.
struct BatchState {
  std::mutex mu;
  std::condition_variable cv;
  int remaining = 0;
  absl::Status first_error;
};

class DeliveryReports : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    auto* state = static_cast<std::shared_ptr<BatchState>*>(message.msg_opaque());
    if (state == nullptr) return;
    {
      std::lock_guard<std::mutex> lock((*state)->mu);
      if (message.err() != RdKafka::ERR_NO_ERROR &&
          (*state)->first_error.ok()) {
        (*state)->first_error = StatusFromKafka(message.err(), "delivery");
      }
      --(*state)->remaining;
    }
    (*state)->cv.notify_all();
    delete state;
  }
};

class KafkaPublisher : public Publisher {
 public:
  KafkaPublisher(std::unique_ptr<DeliveryReports> reports,
                 std::unique_ptr<RdKafka::Producer> producer)
      : reports_(std::move(reports)), producer_(std::move(producer)) {
    poller_ = std::thread([this] {
      while (!stop_) producer_->poll(50);
    });
  }

  ~KafkaPublisher() override {
    (void)Flush(absl::Seconds(10));
    stop_ = true;
    poller_.join();
  }

  absl::Status PublishBatch(absl::Span<const Message> messages,
                            absl::Duration timeout) override {
    if (messages.empty()) return absl::OkStatus();
    const absl::Time deadline = absl::Now() + timeout;
    auto state = std::make_shared<BatchState>();
    state->remaining = static_cast<int>(messages.size());
    int enqueued = 0;
    absl::Status enqueue_error;
    for (const Message& m : messages) {
      absl::Status s = Enqueue(m, state, deadline);
      if (!s.ok()) {
        enqueue_error = s;
        break;
      }
      ++enqueued;
    }
    std::unique_lock<std::mutex> lock(state->mu);
    // Messages never enqueued will get no report.
    state->remaining -= static_cast<int>(messages.size()) - enqueued;
    bool done = state->cv.wait_until(
        lock, absl::ToChronoTime(deadline),
        [&] { return state->remaining == 0; });
    if (!enqueue_error.ok()) return enqueue_error;
    if (!done) {
      return absl::DeadlineExceededError(absl::StrCat(
          "kafka: ", state->remaining, " of ", messages.size(),
          " messages not acknowledged in time"));
    }
    return state->first_error;
  }

  absl::Status Flush(absl::Duration timeout) override {
    RdKafka::ErrorCode err =
        producer_->flush(static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    if (err != RdKafka::ERR_NO_ERROR) return StatusFromKafka(err, "flush");
    return absl::OkStatus();
  }

 private:
  absl::Status Enqueue(const Message& m, const std::shared_ptr<BatchState>& state,
                       absl::Time deadline) {
    RdKafka::Headers* headers = RdKafka::Headers::create();
    for (const auto& [k, v] : m.headers) headers->add(k, v.data(), v.size());
    auto* opaque = new std::shared_ptr<BatchState>(state);
    while (true) {
      RdKafka::ErrorCode err = producer_->produce(
          m.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
          const_cast<char*>(m.value.data()), m.value.size(), m.key.data(),
          m.key.size(), 0, headers, opaque);
      if (err == RdKafka::ERR_NO_ERROR) return absl::OkStatus();  // owns headers
      if (err == RdKafka::ERR__QUEUE_FULL && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(5));  // the poll thread drains it
        continue;
      }
      delete headers;
      delete opaque;
      return StatusFromKafka(err, "produce");
    }
  }

  std::unique_ptr<DeliveryReports> reports_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Publisher>> MakeKafkaPublisher(
    const ProducerOptions& options) {
  auto reports = std::make_unique<DeliveryReports>();
  ConfBuilder conf;
  conf.Set("bootstrap.servers", options.brokers)
      .Set("client.id", options.client_id)
      .Set("enable.idempotence", "true")
      .Set("acks", "all")
      .Set("linger.ms", absl::StrCat(options.linger_ms))
      .Set("compression.codec", options.compression)
      .Set("message.timeout.ms",
           absl::StrCat(absl::ToInt64Milliseconds(options.message_timeout)))
      .Set("queue.buffering.max.messages", "200000")
      .Set("log_level", "3")
      .SetDeliveryReports(reports.get());
  if (!conf.status().ok()) return conf.status();
  std::string err;
  std::unique_ptr<RdKafka::Producer> producer(
      RdKafka::Producer::create(conf.get(), err));
  if (producer == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", err));
  }
  return std::unique_ptr<Publisher>(
      new KafkaPublisher(std::move(reports), std::move(producer)));
}

}  // namespace meridian::kafka
