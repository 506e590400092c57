// meridian-audit: the auditor's tool for the consent service's access log.
//
//   meridian-audit verify [--public_key=FILE] [--schema=consent]
//       Recomputes the hash chain and checks every signed checkpoint with the
//       audit public key (MERIDIAN_AUDIT_PUBLIC_KEY). Prints one line per
//       problem (changed, deleted, inserted or reordered rows, rewritten
//       history, bad signatures) and a JSON summary; exits 1 if anything is
//       wrong.
//   meridian-audit export [--regional_id=ID] [--from=RFC3339] [--to=RFC3339]
//       Every access (or one patient's) as JSON lines, oldest first.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "libs/config/config.h"
#include "libs/pg/pool.h"
#include "libs/pg/sql.h"
#include "meridian/audit/v1/events.pb.h"
#include "services/consent/audit_chain.h"
#include "services/consent/audit_log.h"

namespace {

using namespace meridian;

int Fail(const absl::Status& s) {
  std::cerr << "meridian-audit: " << s << std::endl;
  return 2;
}

int Verify(config::Reader& cfg) {
  const std::string uri = cfg.RequiredString("PG_URI");
  const std::string key_file = cfg.RequiredFile("AUDIT_PUBLIC_KEY");
  const std::string schema = cfg.String("SCHEMA", "consent");
  const int checkpoint_every = static_cast<int>(
      cfg.Int("CHECKPOINT_EVERY", consent::kCheckpointEvery, 1, 1000000));
  cfg.ExitIfInvalid();
  absl::StatusOr<consent::AuditKey> key = consent::AuditKey::FromPemFile(key_file);
  if (!key.ok()) return Fail(key.status());
  pg::Pool pool({.uri = uri, .max_connections = 1, .search_path = schema,
                 .application_name = "meridian-audit"});
  std::vector<consent::ChainRow> rows;
  std::vector<consent::Checkpoint> checkpoints;
  absl::Status loaded = pool.Transact(
      [&](pqxx::work& tx) { return consent::LoadChain(tx, &rows, &checkpoints); },
      {.isolation = pg::Isolation::kRepeatableRead});
  if (!loaded.ok()) return Fail(loaded);
  std::vector<consent::Finding> findings = consent::VerifyChain(rows, checkpoints, *key, checkpoint_every);
  for (const auto& f : findings) std::cout << "row " << f.seq << ": " << f.problem << "\n";
  const int64_t head = rows.empty() ? 0 : rows.back().seq;
  const int64_t signed_up_to = checkpoints.empty() ? 0 : checkpoints.back().seq;
  std::cout << "{\"rows\":" << rows.size() << ",\"head\":" << head
            << ",\"checkpoints\":" << checkpoints.size() << ",\"signed_up_to\":" << signed_up_to
            << ",\"unsigned_tail\":" << head - signed_up_to << ",\"key_id\":\"" << key->key_id()
            << "\",\"problems\":" << findings.size()
            << ",\"intact\":" << (findings.empty() ? "true" : "false") << "}" << std::endl;
  return findings.empty() ? 0 : 1;
}

int Export(config::Reader& cfg) {
  const std::string uri = cfg.RequiredString("PG_URI");
  const std::string schema = cfg.String("SCHEMA", "consent");
  const std::string regional = cfg.String("REGIONAL_ID", "");
  const std::string from = cfg.String("FROM", "-infinity");
  const std::string to = cfg.String("TO", "infinity");
  cfg.ExitIfInvalid();
  pg::Pool pool({.uri = uri, .max_connections = 1, .search_path = schema,
                 .application_name = "meridian-audit"});
  absl::Status s = pool.Transact([&](pqxx::work& tx) -> absl::Status {
    pqxx::result r = tx.exec_params(
        "SELECT seq, " + pg::MicrosOf("occurred_at") + ", entry FROM audit_log"
        " WHERE ($1 = '' OR regional_id::text = $1)"
        " AND occurred_at >= $2::timestamptz AND occurred_at < $3::timestamptz ORDER BY seq",
        regional, from, to);
    for (const auto& row : r) {
      audit::v1::AccessRecorded a;
      if (!a.ParseFromString(pqxx::binarystring(row[2]).str())) {
        return absl::DataLossError(absl::StrCat("row ", row[0].as<int64_t>(), " does not parse"));
      }
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      (void)google::protobuf::util::MessageToJsonString(a, &json, options);
      std::cout << "{\"seq\":" << row[0].as<int64_t>() << ",\"occurred_at\":\""
                << absl::FormatTime(absl::RFC3339_full, absl::FromUnixMicros(row[1].as<int64_t>()),
                                    absl::UTCTimeZone())
                << "\",\"access\":" << json << "}\n";
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return Fail(s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string which = argc >= 2 ? argv[1] : "";
  if (which != "verify" && which != "export") {
    std::cerr << "usage: meridian-audit verify [--public_key=FILE]\n"
                 "       meridian-audit export [--regional_id=ID] [--from=T] [--to=T]\n"
                 "(MERIDIAN_PG_URI and MERIDIAN_AUDIT_PUBLIC_KEY from the environment)\n";
    return 2;
  }
  std::vector<std::string> args = {argv[0]};
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--public_key", 0) == 0) a.replace(0, 12, "--audit_public_key");
    args.push_back(a);
  }
  std::vector<char*> ptrs;
  for (auto& a : args) ptrs.push_back(a.data());
  config::Reader cfg = config::Reader::FromProcess(static_cast<int>(ptrs.size()), ptrs.data());
  return which == "verify" ? Verify(cfg) : Export(cfg);
}
