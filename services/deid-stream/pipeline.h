// The de-identified stream: consumes the clinical topics (patient index,
// records, prescriptions, lab results, audit), keeps only the events of
// patients whose consent allows the purpose, passes each through the privacy
// guard (libs/deid) and produces it to the de-identified topic — the only
// topic the analytics service reads.
//
// Delivery is at least once: a message's offset is committed only after its
// de-identified event is acknowledged by the broker, so a crash between the
// two produces it again. The event ID is kept (it is not personal data):
// the consumer deduplicates on it.
#ifndef MERIDIAN_SERVICES_DEID_STREAM_PIPELINE_H_
#define MERIDIAN_SERVICES_DEID_STREAM_PIPELINE_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "libs/consent/consent.h"
#include "libs/deid/deid.h"
#include "libs/kafka/kafka.h"
#include "libs/xref/xref.h"
#include "meridian/events/v1/envelope.pb.h"

namespace meridian::deidstream {

inline constexpr char kDeidTopic[] = "meridian.deid.v1";

// The topics the pipeline reads.
std::vector<std::string> ClinicalTopics();

// Every payload type those topics carry (linked into the binary with it).
std::vector<const google::protobuf::Descriptor*> PayloadTypes();

struct PipelineOptions {
  // Who receives the data, as consent sees it (the region's health
  // authority), and why.
  consent::Accessor recipient;
  consent::v1::Purpose purpose = consent::v1::PUBLIC_HEALTH;
  std::string output_topic = kDeidTopic;
  absl::Duration publish_timeout = absl::Seconds(30);
  // An event of a patient the links have not reached yet is retried for
  // this long (the link is usually milliseconds behind), counted from when
  // it happened or, if later, from when this pipeline first met it — an
  // event that arrives late, in the backlog after an outage, still gets the
  // whole grace; after it, it goes to the dead-letter topic for a later
  // replay instead of holding its partition.
  absl::Duration link_grace = absl::Minutes(2);
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

class Pipeline {
 public:
  // Every pointer must outlive this object.
  Pipeline(xref::XrefStore* xrefs, consent::Checker* consent, const deid::Deidentifier* guard,
           kafka::Publisher* publisher, PipelineOptions options);

  // One consumed message (a kafka::Handler): OK once its de-identified event
  // is acknowledged, or once it is withheld by consent. UNAVAILABLE when the
  // consent service or the broker cannot be reached (retried);
  // for a patient the links have not reached: UNAVAILABLE within
  // `link_grace` (retried), FAILED_PRECONDITION after it
  // (dead-lettered for a later replay); INVALID_ARGUMENT for a message that
  // is not an event.
  absl::Status Handle(const kafka::ConsumedMessage& message);

  // Several consumed messages (a kafka::BatchHandler): one consent round
  // trip per patient (CheckAll over the batch's categories) and one publish
  // for all, instead of one each. OK when every message is done; any error
  // (a patient not linked yet, consent or the broker unreachable, a bad
  // message) fails the batch, and the consumer hands the messages to
  // Handle one by one with its retry and dead-letter rules. Republishing
  // after a failed batch is harmless: the event IDs stay the same and the
  // readers deduplicate on them.
  absl::Status HandleBatch(const std::vector<kafka::ConsumedMessage>& messages);

  int64_t forwarded() const { return forwarded_.load(); }
  int64_t withheld() const { return withheld_.load(); }

 private:
  // A consumed event, whose patient it concerns and its consent category.
  struct Whose {
    events::v1::EventEnvelope event;
    std::string regional;
    consent::v1::DataCategory category;
  };
  // Identifying is in two steps so that a batch looks its patients up at
  // once: Parse reads the envelope and, when it carries no regional ID,
  // the local ID to look up; Identified completes it with the regional ID
  // found ("" when none yet).
  struct Parsed {
    events::v1::EventEnvelope event;
    std::optional<xref::LocalId> local;
  };
  static absl::StatusOr<Parsed> Parse(const kafka::ConsumedMessage& message);
  absl::StatusOr<Whose> Identified(Parsed parsed, std::string regional,
                                   const kafka::ConsumedMessage& message);
  absl::StatusOr<Whose> Identify(const kafka::ConsumedMessage& message);
  // The de-identified message when consent permits; nullopt when withheld.
  absl::StatusOr<std::optional<kafka::Message>> Release(Whose whose, bool permitted);
  // Publishes `out` (waiting for the acknowledgements) and counts.
  absl::Status Publish(const std::vector<kafka::Message>& out, int withheld);

  xref::XrefStore* xrefs_;
  consent::Checker* consent_;
  const deid::Deidentifier* guard_;
  kafka::Publisher* publisher_;
  // When an event whose patient is not known yet was first met; forgotten
  // once it is placed or dead-lettered.
  absl::Time FirstMiss(const std::string& event_id, absl::Time now);
  void ForgetMiss(const std::string& event_id);

  const PipelineOptions options_;
  absl::Mutex miss_mu_;
  absl::flat_hash_map<std::string, absl::Time> first_miss_ ABSL_GUARDED_BY(miss_mu_);
  std::atomic<int64_t> misses_{0};  // first_miss_.size(), read without the lock
  std::atomic<int64_t> forwarded_{0};
  std::atomic<int64_t> withheld_{0};
};

}  // namespace meridian::deidstream

#endif  // MERIDIAN_SERVICES_DEID_STREAM_PIPELINE_H_
