#include "libs/service/kafka_settings.h"

namespace meridian::service {

KafkaSettings ReadKafkaSettings(config::Reader& cfg) {
  KafkaSettings s;
  s.brokers = cfg.RequiredString("KAFKA_BROKERS");
  s.create_topics = cfg.Bool("KAFKA_CREATE_TOPICS", true);
  s.tls.ca_file = cfg.String("KAFKA_CA", cfg.String("TLS_CA", ""));
  if (!cfg.String("KAFKA_CLIENT_CERT", "").empty()) {
    // Mutual TLS to the broker: every file must be readable now, so a wrong
    // path stops the start naming its setting, not later inside librdkafka.
    s.tls.cert_file = cfg.RequiredFile("KAFKA_CLIENT_CERT");
    s.tls.key_file = cfg.RequiredFile("KAFKA_CLIENT_KEY");
    s.tls.ca_file = cfg.RequiredFile(cfg.String("KAFKA_CA", "").empty() ? "TLS_CA" : "KAFKA_CA");
  }
  return s;
}

void UseKafkaIdentity(const KafkaSettings& settings) {
  if (!settings.tls.cert_file.empty()) kafka::SetClientTls(settings.tls);
}

absl::Status EnsureTopics(const KafkaSettings& settings,
                          const std::vector<kafka::TopicSpec>& topics, absl::Duration timeout) {
  if (!settings.create_topics) return absl::OkStatus();
  return kafka::EnsureTopics(settings.brokers, topics, timeout);
}

}  // namespace meridian::service
