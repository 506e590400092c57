// Internal helpers shared by the librdkafka implementations.
#ifndef MERIDIAN_LIBS_KAFKA_RDKAFKA_UTIL_H_
#define MERIDIAN_LIBS_KAFKA_RDKAFKA_UTIL_H_

#include <librdkafka/rdkafkacpp.h>

#include <memory>
#include <utility>
#include <vector>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace meridian::kafka {

// Maps librdkafka error codes: transport / broker-down errors to UNAVAILABLE,
// timeouts to DEADLINE_EXCEEDED, the rest to INTERNAL.
absl::Status StatusFromKafka(RdKafka::ErrorCode err, absl::string_view what);

// Builds an RdKafka::Conf, remembering the first bad setting.
// librdkafka settings for the process's ClientTls (SetClientTls); empty when
// none is set.
std::vector<std::pair<std::string, std::string>> ClientTlsSettings();

// Starts with the ClientTlsSettings().
class ConfBuilder {
 public:
  ConfBuilder();
  ConfBuilder& Set(const std::string& name, const std::string& value);
  ConfBuilder& SetDeliveryReports(RdKafka::DeliveryReportCb* cb);
  ConfBuilder& SetRebalance(RdKafka::RebalanceCb* cb);
  ConfBuilder& SetEvents(RdKafka::EventCb* cb);
  const absl::Status& status() const { return status_; }
  RdKafka::Conf* get() { return conf_.get(); }

 private:
  std::unique_ptr<RdKafka::Conf> conf_;
  absl::Status status_;
};

}  // namespace meridian::kafka

#endif  // MERIDIAN_LIBS_KAFKA_RDKAFKA_UTIL_H_
