#include "libs/kafka/rdkafka_util.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/kafka/kafka.h"

namespace meridian::kafka {

absl::Status StatusFromKafka(RdKafka::ErrorCode err, absl::string_view what) {
  std::string msg = absl::StrCat("kafka ", what, ": ", RdKafka::err2str(err));
  switch (err) {
    case RdKafka::ERR_NO_ERROR:
      return absl::OkStatus();
    case RdKafka::ERR__TRANSPORT:
    case RdKafka::ERR__ALL_BROKERS_DOWN:
    case RdKafka::ERR__RESOLVE:
    case RdKafka::ERR_LEADER_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_LEADER_FOR_PARTITION:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RdKafka::ERR_BROKER_NOT_AVAILABLE:
    case RdKafka::ERR_NETWORK_EXCEPTION:
    case RdKafka::ERR_COORDINATOR_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_COORDINATOR:
      return absl::UnavailableError(msg);
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__MSG_TIMED_OUT:
    case RdKafka::ERR_REQUEST_TIMED_OUT:
      return absl::DeadlineExceededError(msg);
    case RdKafka::ERR__QUEUE_FULL:
      return absl::ResourceExhaustedError(msg);
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
      return absl::InvalidArgumentError(msg);
    case RdKafka::ERR__UNKNOWN_TOPIC:
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
      return absl::NotFoundError(msg);
    default:
      return absl::InternalError(msg);
  }
}

namespace {

absl::Mutex tls_mu(absl::kConstInit);
ClientTls* client_tls ABSL_GUARDED_BY(tls_mu) = nullptr;

}  // namespace

void SetClientTls(ClientTls tls) {
  absl::MutexLock lock(&tls_mu);
  delete client_tls;
  client_tls = tls.cert_file.empty() ? nullptr : new ClientTls(std::move(tls));
}

std::vector<std::pair<std::string, std::string>> ClientTlsSettings() {
  absl::MutexLock lock(&tls_mu);
  if (client_tls == nullptr) return {};
  return {{"security.protocol", "ssl"},
          {"ssl.ca.location", client_tls->ca_file},
          {"ssl.certificate.location", client_tls->cert_file},
          {"ssl.key.location", client_tls->key_file},
          // The development broker's certificate names localhost and
          // 127.0.0.1; the chain is verified against the regional CA.
          {"ssl.endpoint.identification.algorithm", "https"}};
}

ConfBuilder::ConfBuilder()
    : conf_(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)) {
  for (const auto& [name, value] : ClientTlsSettings()) Set(name, value);
}

ConfBuilder& ConfBuilder::Set(const std::string& name,
                              const std::string& value) {
  std::string err;
  if (status_.ok() &&
      conf_->set(name, value, err) != RdKafka::Conf::CONF_OK) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("kafka setting ", name, ": ", err));
  }
  return *this;
}

ConfBuilder& ConfBuilder::SetDeliveryReports(RdKafka::DeliveryReportCb* cb) {
  std::string err;
  if (conf_->set("dr_cb", cb, err) != RdKafka::Conf::CONF_OK && status_.ok()) {
    status_ = absl::InternalError(absl::StrCat("kafka dr_cb: ", err));
  }
  return *this;
}

ConfBuilder& ConfBuilder::SetRebalance(RdKafka::RebalanceCb* cb) {
  std::string err;
  if (conf_->set("rebalance_cb", cb, err) != RdKafka::Conf::CONF_OK &&
      status_.ok()) {
    status_ = absl::InternalError(absl::StrCat("kafka rebalance_cb: ", err));
  }
  return *this;
}

ConfBuilder& ConfBuilder::SetEvents(RdKafka::EventCb* cb) {
  std::string err;
  if (conf_->set("event_cb", cb, err) != RdKafka::Conf::CONF_OK &&
      status_.ok()) {
    status_ = absl::InternalError(absl::StrCat("kafka event_cb: ", err));
  }
  return *this;
}

}  // namespace meridian::kafka
