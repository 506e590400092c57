// How a service reaches Kafka, read the same way by every service's main.
//
//   KAFKA_BROKERS        host:port,...  (required)
//   KAFKA_CLIENT_CERT    the service's certificate on the brokers' TLS
//   KAFKA_CLIENT_KEY     listener (mutual TLS: the broker's ACLs see its CN);
//                        unset: plaintext
//   KAFKA_CA             the CA of the brokers' certificates (default TLS_CA;
//                        in Kubernetes, e.g. Strimzi's cluster CA)
//   KAFKA_CREATE_TOPICS  true: create missing topics at start (local runs,
//                        tests); false where an operator manages topics
//                        (Strimzi KafkaTopic) and services may not create them
#ifndef MERIDIAN_LIBS_SERVICE_KAFKA_SETTINGS_H_
#define MERIDIAN_LIBS_SERVICE_KAFKA_SETTINGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "libs/config/config.h"
#include "libs/kafka/kafka.h"

namespace meridian::service {

struct KafkaSettings {
  std::string brokers;
  bool create_topics = true;
  kafka::ClientTls tls;  // cert_file empty: plaintext
};

KafkaSettings ReadKafkaSettings(config::Reader& cfg);

// Makes every Kafka client of the process use the settings' TLS identity
// (kafka::SetClientTls); nothing for plaintext. Once, before making clients.
void UseKafkaIdentity(const KafkaSettings& settings);

// kafka::EnsureTopics when the settings allow creating topics; OK otherwise.
absl::Status EnsureTopics(const KafkaSettings& settings,
                          const std::vector<kafka::TopicSpec>& topics,
                          absl::Duration timeout = absl::Seconds(30));

}  // namespace meridian::service

#endif  // MERIDIAN_LIBS_SERVICE_KAFKA_SETTINGS_H_
