#include "libs/service/kafka_settings.h"

namespace meridian::service {

KafkaSettings ReadKafkaSettings(config::Reader& cfg) {
  KafkaSettings s;
  s.brokers = cfg.RequiredString("KAFKA_BROKERS");
  s.create_topics = cfg.Bool("KAFKA_CREATE_TOPICS", true);
  s.tls.cert_file = cfg.String("KAFKA_CLIENT_CERT", "");
  s.tls.key_file = cfg.String("KAFKA_CLIENT_KEY", "");
  s.tls.ca_file = cfg.String("KAFKA_CA", cfg.String("TLS_CA", ""));
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
