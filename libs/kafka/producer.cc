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

// Shared by the messages of one Send call. Counted by hand rather than with
// a shared_ptr per message: a delivery report costs one atomic decrement, and
// the waiter is woken once, by the last report, not once per message.
struct BatchState {
  explicit BatchState(int total) : remaining(total), refs(total + 1) {}

  // Drops one reference (a message's, or the caller's); frees on the last.
  void Unref() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // One message is done (delivered, failed, or never enqueued).
  void Done(int n, const absl::Status& error) {
    if (!error.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      if (first_error.ok()) first_error = error;
    }
    if (remaining.fetch_sub(n, std::memory_order_acq_rel) == n || !error.ok()) {
      std::lock_guard<std::mutex> lock(mu);  // no lost wake-up
      cv.notify_all();
    }
  }

  std::mutex mu;
  std::condition_variable cv;
  std::atomic<int> remaining;
  std::atomic<int> refs;
  absl::Status first_error;  // guarded by mu
};

class BatchDelivery : public Delivery {
 public:
  BatchDelivery(BatchState* state, int total) : state_(state), total_(total) {}
  ~BatchDelivery() override { state_->Unref(); }

  absl::Status Wait(absl::Duration timeout) override {
    std::unique_lock<std::mutex> lock(state_->mu);
    bool done = state_->cv.wait_for(
        lock, absl::ToChronoMilliseconds(timeout), [&] {
          return state_->remaining.load(std::memory_order_acquire) == 0 ||
                 !state_->first_error.ok();
        });
    if (!state_->first_error.ok()) return state_->first_error;
    if (!done) {
      return absl::DeadlineExceededError(
          absl::StrCat("kafka: ", state_->remaining.load(), " of ", total_,
                       " messages not acknowledged in time"));
    }
    return absl::OkStatus();
  }

 private:
  BatchState* state_;
  const int total_;
};

class DeliveryReports : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    auto* state = static_cast<BatchState*>(message.msg_opaque());
    if (state == nullptr) return;
    state->Done(1, message.err() == RdKafka::ERR_NO_ERROR
                       ? absl::OkStatus()
                       : StatusFromKafka(message.err(), "delivery"));
    state->Unref();
  }
};

class KafkaPublisher : public Publisher {
 public:
  KafkaPublisher(std::unique_ptr<DeliveryReports> reports,
                 std::unique_ptr<RdKafka::Producer> producer,
                 absl::Duration enqueue_timeout)
      : reports_(std::move(reports)),
        producer_(std::move(producer)),
        enqueue_timeout_(enqueue_timeout) {
    poller_ = std::thread([this] {
      while (!stop_) producer_->poll(50);
    });
  }

  ~KafkaPublisher() override {
    (void)Flush(absl::Seconds(10));
    stop_ = true;
    poller_.join();
  }

  std::unique_ptr<Delivery> Send(absl::Span<const Message> messages) override {
    const int total = static_cast<int>(messages.size());
    auto* state = new BatchState(total);
    const absl::Time enqueue_deadline = absl::Now() + enqueue_timeout_;
    int enqueued = 0;
    absl::Status error;
    for (const Message& m : messages) {
      error = Enqueue(m, state, enqueue_deadline);
      if (!error.ok()) break;
      ++enqueued;
    }
    if (enqueued < total) {
      // Messages never enqueued get no report: account for them here.
      state->Done(total - enqueued, error);
      for (int i = enqueued; i < total; ++i) state->Unref();
    }
    return std::make_unique<BatchDelivery>(state, total);
  }

  absl::Status Flush(absl::Duration timeout) override {
    RdKafka::ErrorCode err =
        producer_->flush(static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    if (err != RdKafka::ERR_NO_ERROR) return StatusFromKafka(err, "flush");
    return absl::OkStatus();
  }

 private:
  absl::Status Enqueue(const Message& m, BatchState* state, absl::Time deadline) {
    RdKafka::Headers* headers = RdKafka::Headers::create();
    for (const auto& [k, v] : m.headers) headers->add(k, v.data(), v.size());
    while (true) {
      RdKafka::ErrorCode err = producer_->produce(
          m.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
          const_cast<char*>(m.value.data()), m.value.size(), m.key.data(),
          m.key.size(), 0, headers, state);
      if (err == RdKafka::ERR_NO_ERROR) return absl::OkStatus();  // owns headers
      if (err == RdKafka::ERR__QUEUE_FULL && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(5));  // the poll thread drains it
        continue;
      }
      delete headers;
      return StatusFromKafka(err, "produce");
    }
  }

  std::unique_ptr<DeliveryReports> reports_;
  std::unique_ptr<RdKafka::Producer> producer_;
  const absl::Duration enqueue_timeout_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

}  // namespace

std::unique_ptr<Delivery> CompletedDelivery(absl::Status status) {
  class Completed : public Delivery {
   public:
    explicit Completed(absl::Status s) : status_(std::move(s)) {}
    absl::Status Wait(absl::Duration) override { return status_; }

   private:
    absl::Status status_;
  };
  return std::make_unique<Completed>(std::move(status));
}

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
      new KafkaPublisher(std::move(reports), std::move(producer),
                         options.message_timeout));
}

}  // namespace meridian::kafka
