#include "libs/xref/xref.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/timestamps/timestamps.h"
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
  if (!timestamps::IsValid(env.occurred_at())) {
    return absl::InvalidArgumentError(
        absl::StrCat("event ", env.event_id(), ": occurred_at is not a valid timestamp"));
  }
  const absl::Time as_of = timestamps::FromProto(env.occurred_at());
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

absl::StatusOr<bool> XrefStore::Apply(const std::string& consumer,
                                      const std::string& event_id,
                                      const std::vector<Link>& links) {
  MERIDIAN_ASSIGN_OR_RETURN(int applied, ApplyAll(consumer, {{event_id, links}}));
  return applied == 1;
}

absl::StatusOr<int> InMemoryXrefStore::ApplyAll(const std::string& consumer,
                                                const std::vector<Event>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  int applied = 0;
  for (const Event& e : events) {
    if (!applied_.insert(absl::StrCat(consumer, "/", absl::AsciiStrToLower(e.event_id)))
             .second) {
      continue;
    }
    ++applied;
    for (const Link& link : e.links) {
      auto [it, inserted] = links_.try_emplace(link.local, link);
      if (!inserted && it->second.as_of <= link.as_of) it->second = link;
    }
  }
  return applied;
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

absl::StatusOr<int> PgXrefStore::ApplyAll(const std::string& consumer,
                                          const std::vector<Event>& events) {
  if (events.empty()) return 0;
  std::vector<std::string> event_ids;
  event_ids.reserve(events.size());
  for (const Event& e : events) {
    if (!ids::IsUuid(e.event_id)) return absl::InvalidArgumentError("event_id: not a UUID");
    // The inbox returns the uuid column in lower case.
    event_ids.push_back(absl::AsciiStrToLower(e.event_id));
  }
  return pool_->Transact([&](pqxx::work& tx) -> absl::StatusOr<int> {
    // Two statements per batch whatever its size: record the events this
    // consumer had not processed yet, then upsert their links.
    pqxx::result fresh = pg::ExecPrepared(
        tx, "xref_mark_processed",
        "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        consumer, pg::TextArray(event_ids));
    absl::flat_hash_set<std::string> is_fresh;
    for (const auto& row : fresh) is_fresh.insert(row[0].as<std::string>());
    // One statement may touch a row once: per local ID keep what applying
    // the events in order would leave (the newest; the later one on ties).
    absl::flat_hash_map<LocalId, const Link*> last;
    std::vector<LocalId> order;
    int applied = 0;
    for (const Event& e : events) {
      // Erase: an event twice in one batch counts once.
      if (!is_fresh.erase(absl::AsciiStrToLower(e.event_id))) continue;
      ++applied;
      for (const Link& link : e.links) {
        auto [it, inserted] = last.try_emplace(link.local, &link);
        if (inserted) {
          order.push_back(link.local);
        } else if (it->second->as_of <= link.as_of) {
          it->second = &link;
        }
      }
    }
    if (order.empty()) return applied;
    std::vector<std::string> orgs, locals, regionals, times;
    for (const LocalId& id : order) {
      const Link& link = *last[id];
      orgs.push_back(link.local.organisation_id);
      locals.push_back(link.local.local_id);
      regionals.push_back(link.regional_id);
      times.push_back(pg::TimestampLiteral(link.as_of));
    }
    pg::ExecPrepared(
        tx, "xref_upsert_all",
        "INSERT INTO xref (organisation_id, local_id, regional_id, as_of)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::timestamptz[])"
        " ON CONFLICT (organisation_id, local_id) DO UPDATE"
        " SET regional_id = excluded.regional_id, as_of = excluded.as_of"
        " WHERE xref.as_of <= excluded.as_of",
        pg::TextArray(orgs), pg::TextArray(locals), pg::TextArray(regionals),
        pg::TextArray(times));
    return applied;
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

kafka::BatchHandler BatchEventHandler(XrefStore* store, std::string consumer) {
  return [store, consumer = std::move(consumer)](
             const std::vector<kafka::ConsumedMessage>& messages) -> absl::Status {
    std::vector<XrefStore::Event> events;
    events.reserve(messages.size());
    for (const kafka::ConsumedMessage& message : messages) {
      MERIDIAN_ASSIGN_OR_RETURN(events::v1::EventEnvelope env, outbox::ParseEnvelope(message));
      MERIDIAN_ASSIGN_OR_RETURN(std::vector<Link> links, LinksFromEvent(env));
      if (!links.empty()) events.push_back({env.event_id(), std::move(links)});
    }
    if (events.empty()) return absl::OkStatus();
    return store->ApplyAll(consumer, events).status();
  };
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
