#include <librdkafka/rdkafka.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "libs/kafka/kafka.h"
#include "libs/kafka/rdkafka_util.h"

namespace meridian::kafka {
namespace {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

absl::StatusOr<Handle> NewHandle(const std::string& brokers) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> settings = ClientTlsSettings();
  settings.insert(settings.begin(), {{"bootstrap.servers", brokers}, {"log_level", "2"}});
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka admin: ", err));
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("kafka admin: ", err));
  }
  return Handle(rk);
}

}  // namespace

absl::Status PingBroker(const std::string& brokers, absl::Duration timeout) {
  absl::StatusOr<Handle> rk = NewHandle(brokers);
  if (!rk.ok()) return rk.status();
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(
      rk->get(), 0, nullptr, &md,
      static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("kafka: broker unreachable: ", rd_kafka_err2str(err)));
  }
  bool has_brokers = md->broker_cnt > 0;
  rd_kafka_metadata_destroy(md);
  if (!has_brokers) return absl::UnavailableError("kafka: no brokers");
  return absl::OkStatus();
}

namespace {

// Issues one topic admin request, CREATETOPICS or DELETETOPICS, on a fresh
// queue (`issue(options, queue)`), waits for its result event and checks each
// topic's error. A topic that already exists (creating) or does not exist
// (deleting) counts as done.
template <typename Issue>
absl::Status RunTopicRequest(rd_kafka_t* rk, rd_kafka_admin_op_t op, absl::Duration timeout,
                             Issue issue) {
  const bool create = op == RD_KAFKA_ADMIN_OP_CREATETOPICS;
  const absl::string_view what = create ? "create topic" : "delete topic";
  const rd_kafka_resp_err_t tolerated = create ? RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
                                               : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
  char err[512];
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, op);
  rd_kafka_AdminOptions_set_operation_timeout(opts, ms, err, sizeof(err));
  rd_kafka_AdminOptions_set_request_timeout(opts, ms, err, sizeof(err));
  issue(opts, queue);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, ms + 1000);
  absl::Status status;
  if (ev == nullptr) {
    status = absl::DeadlineExceededError(absl::StrCat("kafka: ", what, " timed out"));
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = absl::UnavailableError(
        absl::StrCat("kafka: ", what, ": ", rd_kafka_event_error_string(ev)));
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** results =
        create ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n)
               : rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    for (size_t i = 0; i < n && status.ok(); ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != tolerated) {
        status = absl::InternalError(absl::StrCat("kafka: ", what, " ",
                                                  rd_kafka_topic_result_name(results[i]), ": ",
                                                  rd_kafka_err2str(e)));
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(queue);
  return status;
}

}  // namespace

absl::Status EnsureTopics(const std::string& brokers,
                          const std::vector<TopicSpec>& topics,
                          absl::Duration timeout) {
  if (topics.empty()) return absl::OkStatus();
  absl::StatusOr<Handle> rk = NewHandle(brokers);
  if (!rk.ok()) return rk.status();
  char err[512];
  std::vector<rd_kafka_NewTopic_t*> new_topics;
  for (const TopicSpec& t : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(
        t.name.c_str(), t.partitions, t.replication_factor, err, sizeof(err));
    if (nt == nullptr) {
      for (auto* p : new_topics) rd_kafka_NewTopic_destroy(p);
      return absl::InvalidArgumentError(
          absl::StrCat("kafka topic ", t.name, ": ", err));
    }
    new_topics.push_back(nt);
  }
  absl::Status status = RunTopicRequest(
      rk->get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout,
      [&](rd_kafka_AdminOptions_t* opts, rd_kafka_queue_t* queue) {
        rd_kafka_CreateTopics(rk->get(), new_topics.data(), new_topics.size(), opts, queue);
      });
  for (auto* p : new_topics) rd_kafka_NewTopic_destroy(p);
  return status;
}

absl::Status DeleteTopics(const std::string& brokers, const std::vector<std::string>& names,
                          absl::Duration timeout) {
  if (names.empty()) return absl::OkStatus();
  absl::StatusOr<Handle> rk = NewHandle(brokers);
  if (!rk.ok()) return rk.status();
  std::vector<rd_kafka_DeleteTopic_t*> doomed;
  for (const std::string& name : names) doomed.push_back(rd_kafka_DeleteTopic_new(name.c_str()));
  absl::Status status = RunTopicRequest(
      rk->get(), RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout,
      [&](rd_kafka_AdminOptions_t* opts, rd_kafka_queue_t* queue) {
        rd_kafka_DeleteTopics(rk->get(), doomed.data(), doomed.size(), opts, queue);
      });
  for (auto* d : doomed) rd_kafka_DeleteTopic_destroy(d);
  return status;
}

}  // namespace meridian::kafka
