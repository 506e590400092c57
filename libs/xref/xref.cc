#include "libs/xref/xref.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/ids/uuid.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/sql.h"
#include "libs/status/status_macros.h"
#include "meridian/patient/v1/events.pb.h"

namespace meridian::xref {
namespace {

namespace pv1 = ::meridian::patient::v1;

template <typename T>
absl::StatusOr<T> Unpack(const events::v1::EventEnvelope& env) {
  T payload;
  if (!env.payload().UnpackTo(&payload)) {
    return absl::InvalidArgumentError(
        absl::StrCat("event ", env.event_id(), " (", env.type(),
                     "): payload is not a ", T::descriptor()->full_name()));
  }
  return payload;
}

absl::Status CheckLink(const Link& link, const std::string& event_id) {
  if (link.local.organisation_id.empty() || link.local.local_id.empty() ||
      !ids::IsUuid(link.regional_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "event ", event_id, ": a link lacks organisation, local ID or a UUID regional ID"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Link>> LinksFromEvent(
    const events::v1::EventEnvelope& env) {
  const absl::Time as_of = absl::FromUnixMicros(
      google::protobuf::util::TimeUtil::TimestampToMicroseconds(env.occurred_at()));
  std::vector<Link> links;
  auto add = [&](const std::string& org, const std::string& local,
                 const std::string& regional) {
    links.push_back({{org, local}, regional, as_of});
  };
  const std::string& type = env.type();
  if (type == "patient.registered") {
    MERIDIAN_ASSIGN_OR_RETURN(auto p, Unpack<pv1::PatientRegistered>(env));
    add(p.organisation_id(), p.local_id(), p.regional_id());
  } else if (type == "patient.linked") {
    MERIDIAN_ASSIGN_OR_RETURN(auto p, Unpack<pv1::PatientLinked>(env));
    add(p.organisation_id(), p.local_id(), p.regional_id());
  } else if (type == "patient.merged") {
    MERIDIAN_ASSIGN_OR_RETURN(auto p, Unpack<pv1::PatientsMerged>(env));
    for (const auto& r : p.records()) {
      add(r.organisation_id(), r.local_id(), p.into_regional_id());
    }
  } else if (type == "patient.unmerged") {
    MERIDIAN_ASSIGN_OR_RETURN(auto p, Unpack<pv1::PatientsUnmerged>(env));
    for (const auto& r : p.records()) {
      add(r.organisation_id(), r.local_id(), p.restored_regional_id());
    }
  }
  for (const Link& link : links) {
    MERIDIAN_RETURN_IF_ERROR(CheckLink(link, env.event_id()));
  }
  return links;
}

absl::StatusOr<bool> InMemoryXrefStore::Apply(const std::string& consumer,
                                              const std::string& event_id,
                                              const std::vector<Link>& links) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!applied_.insert(absl::StrCat(consumer, "/", event_id)).second) return false;
  for (const Link& link : links) {
    auto [it, inserted] = links_.try_emplace(link.local, link);
    if (!inserted && it->second.as_of <= link.as_of) it->second = link;
  }
  return true;
}

absl::StatusOr<std::vector<LocalId>> InMemoryXrefStore::LocalIdsOf(
    const std::string& regional_id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LocalId> out;
  for (const auto& [local, link] : links_) {
    if (link.regional_id == regional_id) out.push_back(local);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<std::string>> InMemoryXrefStore::RegionalIdsOf(
    const std::vector<LocalId>& locals) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  out.reserve(locals.size());
  for (const LocalId& local : locals) {
    auto it = links_.find(local);
    out.push_back(it == links_.end() ? std::string() : it->second.regional_id);
  }
  return out;
}

absl::StatusOr<std::string> XrefStore::RegionalIdOf(const LocalId& local) {
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> ids, RegionalIdsOf({local}));
  return ids[0];
}

absl::StatusOr<bool> PgXrefStore::Apply(const std::string& consumer,
                                        const std::string& event_id,
                                        const std::vector<Link>& links) {
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<bool> {
    MERIDIAN_ASSIGN_OR_RETURN(bool first, outbox::MarkProcessed(tx, consumer, event_id));
    if (!first) return false;
    for (const Link& link : links) {
      pg::ExecPrepared(
          tx, "xref_apply",
          "INSERT INTO xref (organisation_id, local_id, regional_id, as_of)"
          " VALUES ($1, $2, $3, to_timestamp($4::float8 / 1e6))"
          " ON CONFLICT (organisation_id, local_id) DO UPDATE"
          " SET regional_id = excluded.regional_id, as_of = excluded.as_of"
          " WHERE xref.as_of <= excluded.as_of",
          link.local.organisation_id, link.local.local_id, link.regional_id,
          absl::ToUnixMicros(link.as_of));
    }
    return true;
  });
}

absl::StatusOr<std::vector<LocalId>> PgXrefStore::LocalIdsOf(
    const std::string& regional_id) {
  if (!ids::IsUuid(regional_id)) return std::vector<LocalId>{};
  return pool_->Transact([&](pqxx::work& tx) {
    pqxx::result r = pg::ExecPrepared(
        tx, "xref_local_ids",
        "SELECT organisation_id, local_id FROM xref WHERE regional_id = $1"
        " ORDER BY organisation_id, local_id",
        regional_id);
    std::vector<LocalId> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>()});
    }
    return out;
  });
}

absl::StatusOr<std::vector<std::string>> PgXrefStore::RegionalIdsOf(
    const std::vector<LocalId>& locals) {
  if (locals.empty()) return std::vector<std::string>{};
  std::vector<std::string> orgs, local_ids;
  orgs.reserve(locals.size());
  local_ids.reserve(locals.size());
  for (const LocalId& l : locals) {
    orgs.push_back(l.organisation_id);
    local_ids.push_back(l.local_id);
  }
  return pool_->Transact([&](pqxx::work& tx) {
    pg::PreferIndexLookups(tx);
    pqxx::result r = pg::ExecPrepared(
        tx, "xref_regional_ids",
        "SELECT p.ord, x.regional_id"
        " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS p(org, local_id, ord)"
        " JOIN xref x ON x.organisation_id = p.org AND x.local_id = p.local_id",
        pg::TextArray(orgs), pg::TextArray(local_ids));
    std::vector<std::string> out(locals.size());
    for (const auto& row : r) out[row[0].as<size_t>() - 1] = row[1].as<std::string>();
    return out;
  });
}

kafka::Handler EventHandler(XrefStore* store, std::string consumer) {
  return [store, consumer = std::move(consumer)](
             const kafka::ConsumedMessage& message) -> absl::Status {
    MERIDIAN_ASSIGN_OR_RETURN(events::v1::EventEnvelope env,
                              outbox::ParseEnvelope(message));
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<Link> links, LinksFromEvent(env));
    if (links.empty()) return absl::OkStatus();  // e.g. review events
    return store->Apply(consumer, env.event_id(), links).status();
  };
}

}  // namespace meridian::xref
