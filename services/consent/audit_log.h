// The consent service's audit log in PostgreSQL: appends access events from
// topic meridian.audit.v1 to the hash chain (audit_chain.h), signs
// checkpoints, and answers "who saw my data".
#ifndef MERIDIAN_SERVICES_CONSENT_AUDIT_LOG_H_
#define MERIDIAN_SERVICES_CONSENT_AUDIT_LOG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/audit/audit.h"
#include "libs/kafka/kafka.h"
#include "libs/pg/pool.h"
#include "meridian/consent/v1/consent.pb.h"
#include "meridian/events/v1/envelope.pb.h"
#include "services/consent/audit_chain.h"

namespace meridian::consent {

using audit::kAuditTopic;

class AuditLog {
 public:
  // `key` signs checkpoints (must be a private key); a checkpoint is signed
  // in the appending transaction every `checkpoint_every` entries.
  AuditLog(pg::Pool* pool, const AuditKey* key, int checkpoint_every = kCheckpointEvery)
      : pool_(pool), key_(key), checkpoint_every_(checkpoint_every) {}

  // Appends an "access.recorded" event (false when this event is already in
  // the log: redelivery). INVALID_ARGUMENT for another type or a bad payload.
  absl::StatusOr<bool> Append(const events::v1::EventEnvelope& envelope);

  // Signs the head if it moved since the last checkpoint. Returns its seq
  // (0 for an empty log).
  absl::StatusOr<int64_t> Checkpoint();

  absl::StatusOr<v1::ListAccessesResponse> ListAccesses(const v1::ListAccessesRequest& request);

  // A consumer handler for topic meridian.audit.v1.
  kafka::Handler Handler();

 private:
  pg::Pool* pool_;
  const AuditKey* key_;
  const int checkpoint_every_;
};

// Everything `verify` needs, read in one snapshot.
absl::Status LoadChain(pqxx::work& tx, std::vector<ChainRow>* rows,
                       std::vector<Checkpoint>* checkpoints);

}  // namespace meridian::consent

#endif  // MERIDIAN_SERVICES_CONSENT_AUDIT_LOG_H_
