#include "services/consent/audit_chain.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "libs/ids/hash.h"

namespace meridian::consent {

std::string ChainHash(const std::string& prev_hash, int64_t seq, const std::string& event_id,
                      int64_t occurred_micros, const std::string& regional_id,
                      const std::string& entry) {
  return ids::Sha256Hex(absl::StrCat(prev_hash, "\n", seq, "\n", event_id, "\n",
                                     occurred_micros, "\n", regional_id, "\n", entry));
}

std::string CheckpointMessage(int64_t seq, const std::string& hash) {
  return absl::StrCat("meridian-audit-checkpoint\n", seq, "\n", hash);
}

absl::StatusOr<AuditKey> AuditKey::FromPemFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("audit key: cannot open ", path));
  AuditKey key;
  key.key_ = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  key.can_sign_ = key.key_ != nullptr;
  if (key.key_ == nullptr) {
    std::rewind(f);
    key.key_ = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
  }
  std::fclose(f);
  if (key.key_ == nullptr || EVP_PKEY_id(key.key_) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit key: ", path, " is not an Ed25519 key in PEM"));
  }
  unsigned char raw[32];
  size_t len = sizeof(raw);
  if (EVP_PKEY_get_raw_public_key(key.key_, raw, &len) != 1) {
    return absl::InternalError("audit key: cannot read the public key");
  }
  key.key_id_ = ids::Sha256Hex(std::string(reinterpret_cast<char*>(raw), len)).substr(0, 16);
  return key;
}

AuditKey::AuditKey(AuditKey&& o) noexcept
    : key_(o.key_), can_sign_(o.can_sign_), key_id_(std::move(o.key_id_)) {
  o.key_ = nullptr;
}

AuditKey& AuditKey::operator=(AuditKey&& o) noexcept {
  if (this != &o) {
    if (key_ != nullptr) EVP_PKEY_free(key_);
    key_ = o.key_;
    can_sign_ = o.can_sign_;
    key_id_ = std::move(o.key_id_);
    o.key_ = nullptr;
  }
  return *this;
}

AuditKey::~AuditKey() {
  if (key_ != nullptr) EVP_PKEY_free(key_);
}

absl::StatusOr<std::string> AuditKey::Sign(const std::string& message) const {
  if (!can_sign_) return absl::FailedPreconditionError("audit key: a public key cannot sign");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  size_t len = sig.size();
  const bool ok =
      EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return absl::InternalError("audit key: signing failed");
  sig.resize(len);
  return sig;
}

bool AuditKey::Verify(const std::string& message, const std::string& signature) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::vector<Finding> VerifyChain(const std::vector<ChainRow>& rows,
                                 const std::vector<Checkpoint>& checkpoints,
                                 const AuditKey& key, int checkpoint_every) {
  std::vector<Finding> out;
  std::map<int64_t, const ChainRow*> by_seq;
  int64_t expected = 1;
  std::string prev = kGenesisHash;
  for (const ChainRow& row : rows) {
    by_seq[row.seq] = &row;
    if (row.seq > expected) {
      out.push_back({expected, absl::StrCat("rows ", expected, "-", row.seq - 1,
                                            " are missing (deleted)")});
    } else if (row.seq < expected) {
      out.push_back({row.seq, "out of order (inserted or reordered)"});
    }
    if (ChainHash(row.prev_hash, row) != row.hash) {
      out.push_back({row.seq, "content changed (its hash does not match)"});
    }
    if (row.prev_hash != prev) {
      out.push_back({row.seq, absl::StrCat("does not follow the row before it "
                                           "(inserted, deleted or reordered)")});
    }
    prev = row.hash;
    expected = row.seq + 1;
  }
  // Deleting checkpoints must not be a way around them.
  const int64_t head = rows.empty() ? 0 : rows.back().seq;
  std::map<int64_t, bool> signed_at;
  for (const Checkpoint& cp : checkpoints) signed_at[cp.seq] = true;
  for (int64_t seq = checkpoint_every; checkpoint_every > 0 && seq <= head;
       seq += checkpoint_every) {
    if (!signed_at.contains(seq)) out.push_back({seq, "its signed checkpoint is missing"});
  }
  for (const Checkpoint& cp : checkpoints) {
    if (cp.key_id != key.key_id() ||
        !key.Verify(CheckpointMessage(cp.seq, cp.hash), cp.signature)) {
      out.push_back({cp.seq, "checkpoint signature does not verify"});
      continue;
    }
    auto it = by_seq.find(cp.seq);
    if (it == by_seq.end()) {
      out.push_back({cp.seq, "the row of a signed checkpoint is missing (deleted)"});
    } else if (it->second->hash != cp.hash) {
      out.push_back({cp.seq, "differs from its signed checkpoint: rows up to here were rewritten"});
    }
  }
  return out;
}

}  // namespace meridian::consent
