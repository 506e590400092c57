// An in-memory Publisher for unit tests: records what was published and can be
// told to fail, as a broker that is down would.
#ifndef MERIDIAN_LIBS_KAFKA_IN_MEMORY_H_
#define MERIDIAN_LIBS_KAFKA_IN_MEMORY_H_

#include <mutex>
#include <vector>

#include "libs/kafka/kafka.h"

namespace meridian::kafka {

class InMemoryPublisher : public Publisher {
 public:
  std::unique_ptr<Delivery> Send(absl::Span<const Message> messages) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_with_.ok()) {
      published_.insert(published_.end(), messages.begin(), messages.end());
    }
    return CompletedDelivery(fail_with_);
  }
  absl::Status Flush(absl::Duration) override { return absl::OkStatus(); }

  // Every later PublishBatch returns `status` (OK restores service).
  void FailWith(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_with_ = std::move(status);
  }
  std::vector<Message> published() const {
    std::lock_guard<std::mutex> lock(mu_);
    return published_;
  }

 private:
  mutable std::mutex mu_;
  absl::Status fail_with_;
  std::vector<Message> published_;
};

}  // namespace meridian::kafka

#endif  // MERIDIAN_LIBS_KAFKA_IN_MEMORY_H_
