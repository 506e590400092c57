#include "services/consent/audit_log.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/ids/uuid.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/sql.h"
#include "libs/status/status_macros.h"
#include "libs/timestamps/timestamps.h"
#include "meridian/audit/v1/events.pb.h"

namespace meridian::consent {
namespace {


// Appends are serialised: the chain is a single sequence.
constexpr char kAppendLock[] = "SELECT pg_advisory_xact_lock(hashtext('meridian.audit_log'))";

absl::Status SignHead(pqxx::work& tx, const AuditKey& key, int64_t seq, const std::string& hash) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string sig, key.Sign(CheckpointMessage(seq, hash)));
  tx.exec_params(
      "INSERT INTO audit_checkpoint (seq, hash, key_id, signature) VALUES ($1, $2, $3, $4)"
      " ON CONFLICT (seq) DO NOTHING",
      seq, hash, key.key_id(), pqxx::binarystring(sig));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> AuditLog::Append(const events::v1::EventEnvelope& env) {
  if (env.type() != audit::kAccessRecorded) {
    return absl::InvalidArgumentError(absl::StrCat("audit: unexpected event type ", env.type()));
  }
  audit::v1::AccessRecorded access;
  if (!env.payload().UnpackTo(&access) || !ids::IsUuid(access.regional_id()) ||
      access.accessor_organisation().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit: event ", env.event_id(), " is not a valid AccessRecorded"));
  }
  if (!timestamps::IsValid(env.occurred_at())) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit: event ", env.event_id(), " has no valid occurred_at"));
  }
  const int64_t micros = absl::ToUnixMicros(timestamps::FromProto(env.occurred_at()));
  const std::string entry = access.SerializeAsString();
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<bool> {
    tx.exec(kAppendLock);
    if (!tx.exec_params("SELECT 1 FROM audit_log WHERE event_id = $1", env.event_id())
             .empty()) {
      return false;
    }
    pqxx::result head = tx.exec("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
    const int64_t seq = head.empty() ? 1 : head[0][0].as<int64_t>() + 1;
    const std::string prev = head.empty() ? kGenesisHash : head[0][1].as<std::string>();
    // The row stores the regional ID as PostgreSQL prints a uuid.
    const std::string regional_id = absl::AsciiStrToLower(access.regional_id());
    const std::string hash = ChainHash(prev, seq, env.event_id(), micros, regional_id, entry);
    tx.exec_params(
        "INSERT INTO audit_log (seq, event_id, occurred_at, regional_id, entry, prev_hash, hash)"
        " VALUES ($1, $2, $3::timestamptz, $4, $5, $6, $7)",
        seq, env.event_id(), pg::TimestampLiteral(absl::FromUnixMicros(micros)), regional_id,
        pqxx::binarystring(entry), prev, hash);
    if (seq % checkpoint_every_ == 0) MERIDIAN_RETURN_IF_ERROR(SignHead(tx, *key_, seq, hash));
    return true;
  });
}

absl::StatusOr<int64_t> AuditLog::Checkpoint() {
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    tx.exec(kAppendLock);
    pqxx::result head = tx.exec("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
    if (head.empty()) return int64_t{0};
    const int64_t seq = head[0][0].as<int64_t>();
    MERIDIAN_RETURN_IF_ERROR(SignHead(tx, *key_, seq, head[0][1].as<std::string>()));
    return seq;
  });
}

absl::StatusOr<v1::ListAccessesResponse> AuditLog::ListAccesses(
    const v1::ListAccessesRequest& request) {
  if (!ids::IsUuid(request.regional_id())) {
    return absl::InvalidArgumentError("regional_id: not a regional patient ID");
  }
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError("page_size: must be 1-1000");
  }
  const int limit = request.page_size() == 0 ? 100 : request.page_size();
  int64_t before = std::numeric_limits<int64_t>::max();
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &before) || before <= 0)) {
    return absl::InvalidArgumentError("page_token: not a token this service issued");
  }
  for (const auto* t : {&request.from(), &request.to()}) {
    if (!timestamps::IsValid(*t)) {
      return absl::InvalidArgumentError(t == &request.from() ? "from: not a valid timestamp"
                                                             : "to: not a valid timestamp");
    }
  }
  const std::string from = request.has_from()
      ? pg::TimestampLiteral(timestamps::FromProto(request.from())) : "-infinity";
  const std::string to = request.has_to()
      ? pg::TimestampLiteral(timestamps::FromProto(request.to())) : "infinity";
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<v1::ListAccessesResponse> {
    pqxx::result r = tx.exec_params(
        "SELECT seq, " + pg::MicrosOf("occurred_at") +
        ", entry FROM audit_log WHERE regional_id = $1"
        " AND occurred_at >= $2::timestamptz AND occurred_at < $3::timestamptz AND seq < $4"
        " ORDER BY seq DESC LIMIT $5",
        request.regional_id(), from, to, before, limit);
    v1::ListAccessesResponse out;
    for (const auto& row : r) {
      audit::v1::AccessRecorded a;
      if (!a.ParseFromString(pg::ReadBytea(row[2]))) {
        return absl::DataLossError("audit: a stored entry does not parse");
      }
      v1::Access* x = out.add_accesses();
      x->set_sequence(row[0].as<int64_t>());
      *x->mutable_occurred_at() = timestamps::ToProto(absl::FromUnixMicros(row[1].as<int64_t>()));
      x->set_service(a.service());
      x->set_operation(a.operation());
      x->set_accessor_organisation(a.accessor_organisation());
      x->set_accessor_role(a.accessor_role());
      x->set_purpose(a.purpose());
      x->set_break_glass_reason(a.break_glass_reason());
      for (const auto& d : a.decisions()) {
        x->add_categories(d.category());
        x->add_effects(d.effect());
      }
      for (const auto& o : a.disclosed_organisations()) x->add_disclosed_organisations(o);
      x->set_items_returned(a.items_returned());
      x->set_request_id(a.request_id());
    }
    if (static_cast<int>(r.size()) == limit) {
      out.set_next_page_token(absl::StrCat(r[r.size() - 1][0].as<int64_t>()));
    }
    return out;
  });
}

kafka::Handler AuditLog::Handler() {
  return [this](const kafka::ConsumedMessage& message) -> absl::Status {
    MERIDIAN_ASSIGN_OR_RETURN(events::v1::EventEnvelope env, outbox::ParseEnvelope(message));
    return Append(env).status();
  };
}

absl::Status LoadChain(pqxx::work& tx, std::vector<ChainRow>* rows,
                       std::vector<Checkpoint>* checkpoints) {
  for (const auto& r :
       tx.exec("SELECT seq, event_id, " + pg::MicrosOf("occurred_at") +
               ", regional_id, entry, prev_hash, hash FROM audit_log ORDER BY seq")) {
    rows->push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<int64_t>(),
                     r[3].as<std::string>(), pg::ReadBytea(r[4]),
                     r[5].as<std::string>(), r[6].as<std::string>()});
  }
  for (const auto& r :
       tx.exec("SELECT seq, hash, key_id, signature FROM audit_checkpoint ORDER BY seq")) {
    checkpoints->push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                            pg::ReadBytea(r[3])});
  }
  return absl::OkStatus();
}

}  // namespace meridian::consent
