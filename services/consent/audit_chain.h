// The tamper-evident audit log's chain, as pure functions shared by the
// consent service (which appends) and `tools/meridian audit verify` (which
// checks).
//
// Entry n carries hash_n = SHA-256(hash_{n-1} "\n" n "\n" event_id "\n"
// occurred_at_micros "\n" regional_id "\n" entry bytes), hash_0 being 64
// zeros: every column a query filters on is covered. Every kCheckpointEvery
// entries (and every minute the head moved) the head (n, hash_n) is signed
// with an Ed25519 key kept as a secret: a checkpoint; a missing one is a
// finding too. Changing, deleting, inserting or reordering rows breaks the
// chain at that point; rewriting the whole chain consistently breaks every
// signed checkpoint after the first rewritten row.
#ifndef MERIDIAN_SERVICES_CONSENT_AUDIT_CHAIN_H_
#define MERIDIAN_SERVICES_CONSENT_AUDIT_CHAIN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace meridian::consent {

inline const std::string kGenesisHash(64, '0');
inline constexpr int kCheckpointEvery = 100;

struct ChainRow {
  int64_t seq = 0;
  std::string event_id;
  int64_t occurred_micros = 0;
  std::string regional_id;
  std::string entry;  // the serialized audit event
  std::string prev_hash;
  std::string hash;
};

struct Checkpoint {
  int64_t seq = 0;
  std::string hash;
  std::string key_id;
  std::string signature;
};

// hash_n for a row whose predecessor's hash is `prev_hash` (hex).
std::string ChainHash(const std::string& prev_hash, int64_t seq, const std::string& event_id,
                      int64_t occurred_micros, const std::string& regional_id,
                      const std::string& entry);
inline std::string ChainHash(const std::string& prev_hash, const ChainRow& row) {
  return ChainHash(prev_hash, row.seq, row.event_id, row.occurred_micros, row.regional_id,
                   row.entry);
}

// The bytes a checkpoint signs.
std::string CheckpointMessage(int64_t seq, const std::string& hash);

// An Ed25519 key from a PEM file: a private key signs and verifies, a public
// key only verifies.
class AuditKey {
 public:
  static absl::StatusOr<AuditKey> FromPemFile(const std::string& path);
  AuditKey(AuditKey&&) noexcept;
  AuditKey& operator=(AuditKey&&) noexcept;
  ~AuditKey();

  // The first 16 hex digits of the SHA-256 of the public key.
  const std::string& key_id() const { return key_id_; }
  bool can_sign() const { return can_sign_; }
  absl::StatusOr<std::string> Sign(const std::string& message) const;
  bool Verify(const std::string& message, const std::string& signature) const;

 private:
  AuditKey() = default;
  EVP_PKEY* key_ = nullptr;
  bool can_sign_ = false;
  std::string key_id_;
};

struct Finding {
  int64_t seq = 0;
  std::string problem;
};

// Checks rows (as stored, ordered by seq) and checkpoints against `key`; a
// multiple of `checkpoint_every` up to the head without a checkpoint is a
// finding. Empty when the log is intact.
std::vector<Finding> VerifyChain(const std::vector<ChainRow>& rows,
                                 const std::vector<Checkpoint>& checkpoints,
                                 const AuditKey& key, int checkpoint_every = kCheckpointEvery);

}  // namespace meridian::consent

#endif  // MERIDIAN_SERVICES_CONSENT_AUDIT_CHAIN_H_
