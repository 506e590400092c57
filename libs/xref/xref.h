// The local copy of the identity cross-reference every clinical service keeps
// (organisation + local patient ID -> regional patient ID), fed by the patient
// index's events, so that merges and unmerges reach every service without
// rewriting a clinical row: clinical rows keep the institution's own patient
// ID and are resolved through this table when read.
//
//   xref::PgXrefStore xrefs(&pool);                 // migrations: Migrations()
//   consumer->Run(xref::EventHandler(&xrefs, "records"));
//   std::vector<xref::LocalId> ids = *xrefs.LocalIdsOf(regional_id);
//
// Events may arrive late or twice: each link carries the time of the event
// that stated it, and an older statement never overwrites a newer one.
#ifndef MERIDIAN_LIBS_XREF_XREF_H_
#define MERIDIAN_LIBS_XREF_XREF_H_

#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kafka/kafka.h"
#include "libs/pg/migrate.h"
#include "libs/pg/pool.h"
#include "meridian/events/v1/envelope.pb.h"

namespace meridian::xref {

inline constexpr char kPatientTopic[] = "meridian.patient.v1";

// A patient as one institution knows them.
struct LocalId {
  std::string organisation_id;
  std::string local_id;
  friend bool operator==(const LocalId& a, const LocalId& b) {
    return a.organisation_id == b.organisation_id && a.local_id == b.local_id;
  }
  friend bool operator<(const LocalId& a, const LocalId& b) {
    return std::tie(a.organisation_id, a.local_id) <
           std::tie(b.organisation_id, b.local_id);
  }
  template <typename H>
  friend H AbslHashValue(H h, const LocalId& id) {
    return H::combine(std::move(h), id.organisation_id, id.local_id);
  }
};

// "This local ID belongs to this regional ID", as of an event's time.
struct Link {
  LocalId local;
  std::string regional_id;
  absl::Time as_of;
};

// The links an event of topic meridian.patient.v1 states: registered and
// linked name one record, merged and unmerged name every record they moved;
// review events state none. INVALID_ARGUMENT for a payload that does not
// parse (the consumer dead-letters it); unknown types state nothing.
absl::StatusOr<std::vector<Link>> LinksFromEvent(
    const events::v1::EventEnvelope& envelope);

class XrefStore {
 public:
  virtual ~XrefStore() = default;

  // Applies `links` unless `consumer` already applied event `event_id`
  // (at-least-once delivery); a link older than the stored one is ignored.
  // One transaction. Returns false for an event already applied.
  absl::StatusOr<bool> Apply(const std::string& consumer, const std::string& event_id,
                             const std::vector<Link>& links);

  struct Event {
    std::string event_id;
    std::vector<Link> links;
  };
  // Several events in order, in one transaction (catching up on a long
  // history one commit per event is slow). Events already applied are
  // skipped. Returns how many were applied.
  virtual absl::StatusOr<int> ApplyAll(const std::string& consumer,
                                       const std::vector<Event>& events) = 0;

  // Every local ID linked to `regional_id`, sorted; empty when none.
  virtual absl::StatusOr<std::vector<LocalId>> LocalIdsOf(
      const std::string& regional_id) = 0;

  // The regional ID of each of `locals` (same order), "" where not known
  // (yet).
  virtual absl::StatusOr<std::vector<std::string>> RegionalIdsOf(
      const std::vector<LocalId>& locals) = 0;

  absl::StatusOr<std::string> RegionalIdOf(const LocalId& local);
};

class InMemoryXrefStore : public XrefStore {
 public:
  absl::StatusOr<int> ApplyAll(const std::string& consumer,
                               const std::vector<Event>& events) override;
  absl::StatusOr<std::vector<LocalId>> LocalIdsOf(
      const std::string& regional_id) override;
  absl::StatusOr<std::vector<std::string>> RegionalIdsOf(
      const std::vector<LocalId>& locals) override;

 private:
  std::mutex mu_;
  absl::flat_hash_set<std::string> applied_;           // consumer + event ID
  absl::flat_hash_map<LocalId, Link> links_;
};

// Tables from Migrations(); `pool`'s search_path starts with the service's
// schema, which also holds the outbox component's inbox table.
class PgXrefStore : public XrefStore {
 public:
  explicit PgXrefStore(pg::Pool* pool) : pool_(pool) {}
  absl::StatusOr<int> ApplyAll(const std::string& consumer,
                               const std::vector<Event>& events) override;
  absl::StatusOr<std::vector<LocalId>> LocalIdsOf(
      const std::string& regional_id) override;
  absl::StatusOr<std::vector<std::string>> RegionalIdsOf(
      const std::vector<LocalId>& locals) override;

 private:
  pg::Pool* pool_;
};

// The "xref" migration component (needs the "outbox" component's inbox).
const std::vector<pg::Migration>& Migrations();
inline pg::MigrationSet MigrationSet() { return {"xref", &Migrations()}; }

// A Kafka handler for topic meridian.patient.v1 that applies each event's
// links to `store` as `consumer`.
kafka::Handler EventHandler(XrefStore* store, std::string consumer);

// The same for Consumer::RunBatched: a batch of events in one transaction
// (any message that does not parse fails the batch, which is then handed
// message by message to EventHandler, and so to the dead-letter rules).
kafka::BatchHandler BatchEventHandler(XrefStore* store, std::string consumer);

}  // namespace meridian::xref

#endif  // MERIDIAN_LIBS_XREF_XREF_H_
