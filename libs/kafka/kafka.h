// Publishing and consuming Meridian events on Kafka.
//
// The interfaces know nothing of librdkafka; `MakeKafkaPublisher` and
// `KafkaConsumer` are the librdkafka implementations used in production and in
// the integration tests, `InMemoryBroker` (in_memory.h) the fake for unit
// tests.
#ifndef MERIDIAN_LIBS_KAFKA_KAFKA_H_
#define MERIDIAN_LIBS_KAFKA_KAFKA_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace meridian::kafka {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Message {
  std::string topic;
  std::string key;
  std::string value;
  Headers headers;
};

struct ConsumedMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  Headers headers;
};

// The acknowledgement of messages handed to Publisher::Send.
class Delivery {
 public:
  virtual ~Delivery() = default;
  // Waits until every message is acknowledged by all in-sync replicas, or
  // `timeout` passes. OK only when every message was delivered; otherwise the
  // first error (UNAVAILABLE when the broker could not be reached,
  // DEADLINE_EXCEEDED when acknowledgements did not arrive in time).
  virtual absl::Status Wait(absl::Duration timeout) = 0;
};

// Publishes messages. Thread-safe.
class Publisher {
 public:
  virtual ~Publisher() = default;

  // Enqueues every message, in order, and returns without waiting for the
  // broker. Messages of one key keep their order across Send calls.
  virtual std::unique_ptr<Delivery> Send(absl::Span<const Message> messages) = 0;

  // Send, then Wait.
  absl::Status PublishBatch(absl::Span<const Message> messages,
                            absl::Duration timeout) {
    return Send(messages)->Wait(timeout);
  }

  // Waits for everything queued to be delivered (used at shutdown).
  virtual absl::Status Flush(absl::Duration timeout) = 0;
};

// A Delivery that is already complete with `status`.
std::unique_ptr<Delivery> CompletedDelivery(absl::Status status);

// The process's identity towards the broker. When set (cert_file not
// empty), every client this library makes afterwards — producers, consumers,
// admin handles — connects with mutual TLS (security.protocol=ssl) as the
// certificate's CN, so the broker's ACLs apply to it; `brokers` must then
// name the broker's TLS listener. Set once at start, before making clients
// (service::Main does, from KAFKA_CLIENT_CERT / KAFKA_CLIENT_KEY / TLS_CA).
struct ClientTls {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};
void SetClientTls(ClientTls tls);

struct ProducerOptions {
  std::string brokers;  // "host:port,host:port"
  std::string client_id = "meridian";
  // How long librdkafka keeps retrying one message before failing it.
  absl::Duration message_timeout = absl::Seconds(30);
  int linger_ms = 5;
  std::string compression = "lz4";
};

// An idempotent producer (enable.idempotence, acks=all) with delivery reports
// and a background poll thread.
absl::StatusOr<std::unique_ptr<Publisher>> MakeKafkaPublisher(
    const ProducerOptions& options);

// What a handler answers decides what happens to a message:
//   OK                           -> offset committed
//   UNAVAILABLE, ABORTED,
//   DEADLINE_EXCEEDED,
//   RESOURCE_EXHAUSTED           -> transient: retried with backoff, never
//                                   dead-lettered (a database outage must
//                                   not empty the topic into the DLT)
//   anything else                -> retried `max_attempts` times, then the
//                                   message goes to the dead-letter topic with
//                                   the error in a header, and is committed
using Handler = std::function<absl::Status(const ConsumedMessage&)>;

bool IsTransient(const absl::Status& status);

// Handles several consumed messages at once (e.g. in one database
// transaction). OK means every one of them is done.
using BatchHandler = std::function<absl::Status(const std::vector<ConsumedMessage>&)>;

struct ConsumerOptions {
  std::string brokers;
  std::string group_id;
  std::vector<std::string> topics;
  // Dead-letter topic for `topic` is topic + dead_letter_suffix.
  std::string dead_letter_suffix = ".dlt";
  int max_attempts = 3;
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(5);
  // Where a new group starts: "earliest" or "latest".
  std::string auto_offset_reset = "earliest";
  std::string client_id = "meridian";
};

class Consumer {
 public:
  virtual ~Consumer() = default;
  // Consumes and dispatches until Stop() is called; commits offsets only for
  // messages whose handler succeeded (or that were dead-lettered).
  virtual absl::Status Run(const Handler& handler) = 0;
  // The same, taking up to `max_batch` messages that are already waiting at
  // a time: `batch` gets them all; when it fails, each is handed to `single`
  // in turn with Run's retry and dead-letter rules. Offsets are committed
  // only for messages one of them handled.
  virtual absl::Status RunBatched(const BatchHandler& batch, const Handler& single,
                                  int max_batch) = 0;
  // Makes Run return after the message in hand; safe from any thread.
  virtual void Stop() = 0;
};

// `dead_letters` publishes to the dead-letter topics; it must outlive the
// consumer.
absl::StatusOr<std::unique_ptr<Consumer>> MakeKafkaConsumer(
    const ConsumerOptions& options, Publisher* dead_letters);

struct TopicSpec {
  std::string name;
  int partitions = 3;
  int replication_factor = 1;
};

// Creates the topics that do not exist yet (existing ones are left alone).
absl::Status EnsureTopics(const std::string& brokers,
                          const std::vector<TopicSpec>& topics,
                          absl::Duration timeout = absl::Seconds(30));

// Deletes the topics and their data (missing ones count as deleted): for
// benchmarks and tests that make their own.
absl::Status DeleteTopics(const std::string& brokers, const std::vector<std::string>& names,
                          absl::Duration timeout = absl::Seconds(30));

// OK when the cluster answers a metadata request within `timeout`.
absl::Status PingBroker(const std::string& brokers, absl::Duration timeout);

}  // namespace meridian::kafka

#endif  // MERIDIAN_LIBS_KAFKA_KAFKA_H_
