// meridian-region: the living region (journey.h) against the running
// platform, over gRPC with mutual TLS, each institution with its own client
// certificate.
//
//   meridian-region simulate --patients=N --seed=S [--concurrency=C] [--run=TAG]
//   meridian-region load --rate=R --duration=D [--concurrency=C] [--seed=S]
//                        [--patients=P] [--run=TAG]
//
// simulate runs every step of N patients' journeys (a patient's steps in
// order, different patients in parallel), prints a progress line to stderr
// about once a second and one JSON object on stdout: outcomes per step kind
// (ok, expected_refusal, unexpected_error with the first messages), what
// the region did (registrations and links, records, prescriptions, results,
// consent decisions) and the seconds taken. Exit 0 when nothing unexpected
// happened.
//
// load first registers a pool of P patients (200) with their first visits,
// then for D issues the journeys' further steps at R operations a second
// (a scheduler that keeps the rate; ops it could not start in time are
// reported as backlog, never silently dropped), a progress line every
// second, and at the end one JSON object with latency percentiles per RPC
// and the achieved rate.
//
// Steps waiting for what the platform learns through Kafka (a new patient's
// identity links reaching records, consent and lab-results) poll for up to
// --wait (30s). Messages never carry personal data: only step kinds,
// institutions and the services' error texts (which name fields, not values).
//
// Settings (flag or MERIDIAN_ environment variable): CERTS_DIR, ORGANISATIONS,
// PATIENT_INDEX_GRPC_ADDR, RECORDS_GRPC_ADDR, CONSENT_GRPC_ADDR,
// PRESCRIPTIONS_GRPC_ADDR, LAB_RESULTS_GRPC_ADDR (`tools/meridian env`).
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/config/config.h"
#include "libs/orgs/directory.h"
#include "libs/server/client.h"
#include "meridian/consent/v1/consent.grpc.pb.h"
#include "meridian/labs/v1/labs.grpc.pb.h"
#include "meridian/patient/v1/patient_index.grpc.pb.h"
#include "meridian/prescriptions/v1/prescriptions.grpc.pb.h"
#include "meridian/records/v1/records.grpc.pb.h"
#include "tools/region/journey.h"

namespace meridian::region {
namespace {

namespace cv1 = ::meridian::consent::v1;
namespace lv1 = ::meridian::labs::v1;
namespace pv1 = ::meridian::patient::v1;
namespace rv1 = ::meridian::records::v1;
namespace xv1 = ::meridian::prescriptions::v1;

// ---- Measurements ----

// Latencies in buckets 2% wide from 10 us: percentiles to within 2%, in
// constant memory however long a load runs.
class Histogram {
 public:
  void Add(double ms) {
    ++counts_[Bucket(ms)];
    ++n_;
    max_ = std::max(max_, ms);
  }
  int64_t count() const { return n_; }
  double max() const { return max_; }
  double Percentile(double q) const {
    if (n_ == 0) return 0;
    const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * n_)));
    int64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
      seen += counts_[b];
      if (seen >= rank) return std::min(Upper(b), max_);
    }
    return max_;
  }

 private:
  static constexpr int kBuckets = 900;
  static int Bucket(double ms) {
    if (ms <= 0.01) return 0;
    return std::min(kBuckets - 1, 1 + static_cast<int>(std::log(ms / 0.01) / std::log(1.02)));
  }
  static double Upper(int b) { return 0.01 * std::pow(1.02, b); }
  std::vector<int64_t> counts_ = std::vector<int64_t>(kBuckets);
  int64_t n_ = 0;
  double max_ = 0;
};

enum class Outcome { kOk, kExpectedRefusal, kUnexpected, kIndeterminate, kSkipped };

struct Result {
  Outcome outcome = Outcome::kOk;
  std::string message;  // for kUnexpected, kIndeterminate, kSkipped
};

// What the region did, counted as it happens.
struct Tally {
  std::atomic<int64_t> patients_registered{0}, registrations{0}, first_linked{0}, first_review{0},
      reregistration_linked{0}, duplicates{0}, duplicates_by_resident_id{0},
      duplicates_auto_linked{0}, duplicates_review{0}, duplicates_new{0},
      duplicates_elsewhere{0}, encounters{0}, referrals{0}, referrals_accepted{0},
      referrals_completed{0}, prescriptions{0}, prescriptions_with_findings{0}, lookups{0},
      dispensings{0}, fully_dispensed{0}, lab_reports{0}, lab_results{0}, lab_critical{0},
      reuse_searches{0}, results_reused{0}, grants{0}, refusals{0}, revocations{0},
      reads_permitted{0}, reads_withheld{0}, polls{0}, retries{0};
};

class Stats {
 public:
  void Rpc(absl::string_view rpc, absl::Duration latency) {
    const double ms = absl::ToDoubleMilliseconds(latency);
    absl::MutexLock lock(&mu_);
    Rpcs& r = rpcs_[std::string(rpc)];
    r.latency.Add(ms);
    all_.Add(ms);
  }

  void Step(const Step& step, const Result& result) {
    absl::MutexLock lock(&mu_);
    Kind& k = kinds_[static_cast<int>(step.kind)];
    switch (result.outcome) {
      case Outcome::kOk: ++k.ok; break;
      case Outcome::kExpectedRefusal: ++k.expected_refusal; break;
      case Outcome::kIndeterminate: ++k.indeterminate; break;
      case Outcome::kSkipped: ++k.skipped; break;
      case Outcome::kUnexpected: {
        ++k.unexpected;
        ++rpcs_[std::string(RpcName(step.kind))].errors;
        const std::string line =
            absl::StrCat(KindName(step.kind), " as ", step.org, ": ", result.message);
        if (k.errors.size() < 3) k.errors.push_back(line);
        if (errors_.size() < 10) errors_.push_back(line);
        if (++unexpected_ <= 5) std::cerr << "meridian-region: " << line << std::endl;
        break;
      }
    }
    ++done_;
  }

  int64_t done() const {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  int64_t unexpected() const {
    absl::MutexLock lock(&mu_);
    return unexpected_;
  }
  double P99() const {
    absl::MutexLock lock(&mu_);
    return all_.Percentile(0.99);
  }

  // "register 812, visit 1,204, ..." for the progress line.
  std::string Counts() const {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> parts;
    int64_t withheld = 0;
    for (int i = 0; i < kStepKindCount; ++i) {
      const Kind& k = kinds_[i];
      const int64_t n = k.ok + k.expected_refusal + k.unexpected + k.indeterminate;
      withheld += k.expected_refusal;
      if (n > 0) parts.push_back(absl::StrCat(KindName(static_cast<StepKind>(i)), " ", n));
    }
    return absl::StrCat(absl::StrJoin(parts, ", "), "; withheld ", withheld);
  }

  // {"register": {"ok": ..., ...}, ...}
  std::string KindsJson() const;
  // {"PatientIndex.RegisterPatient": {"count": ..., "p50_ms": ...}, ...}
  std::string RpcJson() const;
  std::string ErrorsJson() const;
  // Totals over every kind: ok, expected refusals, unexpected, indeterminate, skipped.
  std::vector<int64_t> Totals() const {
    absl::MutexLock lock(&mu_);
    std::vector<int64_t> t(5);
    for (const Kind& k : kinds_) {
      t[0] += k.ok;
      t[1] += k.expected_refusal;
      t[2] += k.unexpected;
      t[3] += k.indeterminate;
      t[4] += k.skipped;
    }
    return t;
  }

 private:
  struct Kind {
    int64_t ok = 0, expected_refusal = 0, unexpected = 0, indeterminate = 0, skipped = 0;
    std::vector<std::string> errors;
  };
  struct Rpcs {
    Histogram latency;
    int64_t errors = 0;
  };
  mutable absl::Mutex mu_;
  Kind kinds_[kStepKindCount];
  std::map<std::string, Rpcs> rpcs_;
  Histogram all_;
  std::vector<std::string> errors_;
  int64_t unexpected_ = 0;
  int64_t done_ = 0;
};

std::string Quote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string Ms(double ms) { return absl::StrFormat("%.2f", ms); }

std::string Stats::KindsJson() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> parts;
  for (int i = 0; i < kStepKindCount; ++i) {
    const Kind& k = kinds_[i];
    std::vector<std::string> errors;
    for (const std::string& e : k.errors) errors.push_back(Quote(e));
    parts.push_back(absl::StrCat(
        Quote(KindName(static_cast<StepKind>(i))), ":{\"ok\":", k.ok,
        ",\"expected_refusal\":", k.expected_refusal, ",\"unexpected_error\":", k.unexpected,
        ",\"indeterminate\":", k.indeterminate, ",\"skipped\":", k.skipped,
        k.errors.empty() ? "" : absl::StrCat(",\"errors\":[", absl::StrJoin(errors, ","), "]"),
        "}"));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string Stats::RpcJson() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> parts;
  for (const auto& [name, r] : rpcs_) {
    parts.push_back(absl::StrCat(
        Quote(name), ":{\"count\":", r.latency.count(), ",\"errors\":", r.errors,
        ",\"p50_ms\":", Ms(r.latency.Percentile(0.5)), ",\"p90_ms\":",
        Ms(r.latency.Percentile(0.9)), ",\"p99_ms\":", Ms(r.latency.Percentile(0.99)),
        ",\"max_ms\":", Ms(r.latency.max()), "}"));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string Stats::ErrorsJson() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> quoted;
  for (const std::string& e : errors_) quoted.push_back(Quote(e));
  return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
}

// ---- Clients: every institution's stubs, with its own certificate ----

struct Addresses {
  std::string patient_index, records, consent, prescriptions, lab_results;
};

class Clients {
 public:
  static absl::StatusOr<std::unique_ptr<Clients>> Make(const std::vector<std::string>& orgs,
                                                       const std::string& certs,
                                                       const Addresses& addr) {
    auto c = std::make_unique<Clients>();
    for (const std::string& org : orgs) {
      const server::ClientTls tls{certs + "/ca.pem", certs + "/" + org + ".pem",
                                  certs + "/" + org + ".key"};
      auto channel = [&](const std::string& target) {
        return server::MakeChannel(target, tls);
      };
      Org& o = c->orgs_[org];
      absl::StatusOr<std::shared_ptr<grpc::Channel>> ch = channel(addr.patient_index);
      if (!ch.ok()) return ch.status();
      o.index = pv1::PatientIndex::NewStub(*ch);
      if (!(ch = channel(addr.records)).ok()) return ch.status();
      o.records = rv1::Records::NewStub(*ch);
      if (!(ch = channel(addr.consent)).ok()) return ch.status();
      o.consent = cv1::Consent::NewStub(*ch);
      if (!(ch = channel(addr.prescriptions)).ok()) return ch.status();
      o.rx = xv1::Prescriptions::NewStub(*ch);
      if (!(ch = channel(addr.lab_results)).ok()) return ch.status();
      o.labs = lv1::LabResults::NewStub(*ch);
    }
    return c;
  }

  struct Org {
    std::unique_ptr<pv1::PatientIndex::Stub> index;
    std::unique_ptr<rv1::Records::Stub> records;
    std::unique_ptr<cv1::Consent::Stub> consent;
    std::unique_ptr<xv1::Prescriptions::Stub> rx;
    std::unique_ptr<lv1::LabResults::Stub> labs;
  };
  const Org& As(const std::string& org) const { return orgs_.at(org); }

 private:
  absl::flat_hash_map<std::string, Org> orgs_;
};

// ---- Running steps ----

// What a patient's earlier steps learnt from the platform.
struct PatientState {
  std::string regional_id;  // from the first registration
  bool lost = false;        // the first registration failed: nothing more to do
  // The first registration joined an identity that already existed (a person
  // of an earlier run or another of this run with the same details): what
  // reads show depends on someone else's directives too.
  std::atomic<bool> shared_identity{false};
  struct Answer {
    std::string id;    // prescription or directive ID
    std::string code;  // verification code
  };
  std::vector<Answer> answers;  // by step seq
};

// The code's name and the start of the message, cut at a character boundary
// (the report is JSON).
std::string StatusText(const grpc::Status& s) {
  std::string msg = s.error_message();
  if (msg.size() > 200) {
    size_t end = 200;
    while (end > 0 && (static_cast<unsigned char>(msg[end]) & 0xC0) == 0x80) --end;
    msg.resize(end);
  }
  return absl::StrCat(
      absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())), ": ", msg);
}

class Runner {
 public:
  Runner(const Clients* clients, Stats* stats, Tally* tally, std::vector<PatientState>* states,
         absl::Duration wait)
      : clients_(clients), stats_(stats), tally_(tally), states_(states), wait_(wait) {}

  Result Run(const Step& step);

  int64_t distinct_regional_ids() {
    absl::MutexLock lock(&mu_);
    return static_cast<int64_t>(regional_ids_.size());
  }

 private:
  // One RPC with a deadline, its latency recorded under the step's RPC name;
  // tried again, for up to the wait, while the outcome is unknown: the
  // service is UNAVAILABLE (restarting, or its database is), the call ran
  // out of time, or its commit's outcome is UNKNOWN. Every request is
  // idempotent (local IDs, request keys), so a retry of a write that did
  // commit returns the same answer.
  template <typename Fn>
  grpc::Status Call(const Step& step, Fn&& fn) {
    const absl::Time deadline = absl::Now() + wait_;
    int attempt = 0;
    while (true) {
      auto ctx = server::NewContext(absl::Seconds(15));
      const absl::Time start = absl::Now();
      grpc::Status s = fn(ctx.get());
      stats_->Rpc(RpcName(step.kind), absl::Now() - start);
      const bool unknown = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                           s.error_code() == grpc::StatusCode::UNKNOWN;
      if (!unknown || absl::Now() >= deadline) return s;
      ++tally_->retries;
      absl::SleepFor(absl::Milliseconds(std::min(1000, 100 * (1 << std::min(attempt++, 4)))));
    }
  }
  // Sleeps before the next poll; false once `deadline` has passed.
  bool Again(absl::Time deadline, int* attempt) {
    if (absl::Now() >= deadline) return false;
    ++tally_->polls;
    absl::SleepFor(absl::Milliseconds(std::min(500, 50 * (1 << std::min(*attempt, 4)))));
    ++*attempt;
    return true;
  }
  static Result Ok() { return {}; }
  static Result Unexpected(std::string message) {
    return {Outcome::kUnexpected, std::move(message)};
  }
  // An outcome other than expected for a patient who shares an identity:
  // not counted as an error.
  static Result Mismatch(const PatientState& st, std::string message) {
    return {st.shared_identity ? Outcome::kIndeterminate : Outcome::kUnexpected,
            std::move(message)};
  }
  PatientState::Answer& AnswerOf(PatientState& st, int seq) {
    if (static_cast<int>(st.answers.size()) <= seq) st.answers.resize(seq + 1);
    return st.answers[seq];
  }
  void ClaimIdentity(int patient, const std::string& regional_id);

  Result Register(const Step& step, PatientState& st);
  Result Read(const Step& step, PatientState& st);

  const Clients* clients_;
  Stats* stats_;
  Tally* tally_;
  std::vector<PatientState>* states_;
  absl::Duration wait_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> owner_ ABSL_GUARDED_BY(mu_);  // regional ID -> patient
  absl::flat_hash_set<std::string> regional_ids_ ABSL_GUARDED_BY(mu_);
};

void Runner::ClaimIdentity(int patient, const std::string& regional_id) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = owner_.emplace(regional_id, patient);
  if (!inserted && it->second != patient) {
    (*states_)[patient].shared_identity = true;
    (*states_)[it->second].shared_identity = true;
  }
}

Result Runner::Register(const Step& step, PatientState& st) {
  const auto& req = std::get<pv1::RegisterPatientRequest>(step.request);
  pv1::RegisterPatientResponse resp;
  grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
    return clients_->As(step.org).index->RegisterPatient(ctx, req, &resp);
  });
  if (!s.ok()) {
    if (step.seq == 0) st.lost = true;
    return Unexpected(StatusText(s));
  }
  ++tally_->registrations;
  {
    absl::MutexLock lock(&mu_);
    regional_ids_.insert(resp.regional_id());
  }
  if (step.kind == StepKind::kRegisterDuplicate) {
    ++tally_->duplicates;
    if (resp.regional_id() == st.regional_id) {
      ++(resp.decision() == pv1::MATCHED_DETERMINISTICALLY ? tally_->duplicates_by_resident_id
                                                           : tally_->duplicates_auto_linked);
    } else if (resp.decision() == pv1::NEW_IDENTITY_WITH_REVIEW) {
      ++tally_->duplicates_review;
    } else if (resp.decision() == pv1::NEW_IDENTITY) {
      ++tally_->duplicates_new;
    } else {
      ++tally_->duplicates_elsewhere;
    }
    return Ok();
  }
  if (step.seq == 0) {
    st.regional_id = resp.regional_id();
    ++tally_->patients_registered;
    if (resp.decision() == pv1::NEW_IDENTITY_WITH_REVIEW) ++tally_->first_review;
    if (resp.decision() == pv1::MATCHED_DETERMINISTICALLY ||
        resp.decision() == pv1::AUTO_LINKED) {
      ++tally_->first_linked;
      st.shared_identity = true;
    }
    ClaimIdentity(step.patient, resp.regional_id());
    return Ok();
  }
  // The same details at a referral's receiving institution: the same person.
  if (resp.regional_id() != st.regional_id) {
    return Mismatch(st, absl::StrCat("registered with the same details, not linked (",
                                     pv1::MatchDecision_Name(resp.decision()), ")"));
  }
  ++tally_->reregistration_linked;
  return Ok();
}

Result Runner::Read(const Step& step, PatientState& st) {
  rv1::GetPatientRecordRequest req = std::get<rv1::GetPatientRecordRequest>(step.request);
  req.set_regional_id(st.regional_id);
  const absl::Time deadline = absl::Now() + wait_;
  int attempt = 0;
  std::string last;
  do {
    rv1::GetPatientRecordResponse resp;
    grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
      return clients_->As(step.org).records->GetPatientRecord(ctx, req, &resp);
    });
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {  // the links are on their way
      last = StatusText(s);
      continue;
    }
    if (!s.ok()) return Unexpected(StatusText(s));
    const bool withheld = std::any_of(resp.withheld().begin(), resp.withheld().end(),
                                      [](const rv1::Withheld& w) {
                                        return w.category() == rv1::ENCOUNTERS;
                                      });
    int others = 0;
    for (const rv1::RecordEntry& e : resp.entries()) {
      if (e.has_encounter() && e.organisation_id() != step.org) ++others;
    }
    if (step.expect == Expect::kWithheld) {
      // The very next read after a refusal is withheld: no waiting.
      if (withheld && others == 0) {
        ++tally_->reads_withheld;
        return {Outcome::kExpectedRefusal, ""};
      }
      return Mismatch(st, absl::StrCat("other institutions' records not withheld after a "
                                       "refusal (",
                                       others, " encounters shown)"));
    }
    if (withheld) return Mismatch(st, "other institutions' records withheld without a refusal");
    if (others > 0) {
      ++tally_->reads_permitted;
      return Ok();
    }
    last = "other institutions' encounters not shown yet";
  } while (Again(deadline, &attempt));
  return Mismatch(st, absl::StrCat("after ", absl::FormatDuration(wait_), ": ", last));
}

Result Runner::Run(const Step& step) {
  PatientState& st = (*states_)[step.patient];
  if (st.lost) return {Outcome::kSkipped, "the first registration failed"};
  const Clients::Org& as = clients_->As(step.org);
  switch (step.kind) {
    case StepKind::kRegister:
    case StepKind::kRegisterDuplicate:
      return Register(step, st);

    case StepKind::kVisit: {
      rv1::PushResult resp;
      grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
        return as.records->PushEncounter(ctx, std::get<rv1::Encounter>(step.request), &resp);
      });
      if (!s.ok()) return Unexpected(StatusText(s));
      ++tally_->encounters;
      return Ok();
    }
    case StepKind::kReferral: {
      rv1::PushResult resp;
      grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
        return as.records->PushReferral(ctx, std::get<rv1::Referral>(step.request), &resp);
      });
      if (!s.ok()) return Unexpected(StatusText(s));
      ++tally_->referrals;
      return Ok();
    }
    case StepKind::kReferralStatus: {
      const auto& req = std::get<rv1::UpdateReferralStatusRequest>(step.request);
      rv1::PushResult resp;
      grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
        return as.records->UpdateReferralStatus(ctx, req, &resp);
      });
      if (!s.ok()) return Unexpected(StatusText(s));
      ++(req.status() == rv1::ACCEPTED ? tally_->referrals_accepted
                                       : tally_->referrals_completed);
      return Ok();
    }

    case StepKind::kPrescribe: {
      xv1::IssuePrescriptionResponse resp;
      grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
        return as.rx->IssuePrescription(
            ctx, std::get<xv1::IssuePrescriptionRequest>(step.request), &resp);
      });
      if (!s.ok()) return Unexpected(StatusText(s));
      if (resp.outcome() != xv1::CREATED && resp.outcome() != xv1::UNCHANGED) {
        return Unexpected(absl::StrCat("prescription ", xv1::IssueOutcome_Name(resp.outcome()),
                                       " (", resp.findings_size(), " findings)"));
      }
      AnswerOf(st, step.seq) = {resp.prescription_id(), resp.verification_code()};
      ++tally_->prescriptions;
      if (resp.findings_size() > 0) ++tally_->prescriptions_with_findings;
      return Ok();
    }
    case StepKind::kLookup:
    case StepKind::kDispense: {
      const PatientState::Answer& rx = AnswerOf(st, step.ref);
      if (rx.id.empty()) return {Outcome::kSkipped, "its prescription was not issued"};
      if (step.kind == StepKind::kLookup) {
        xv1::LookupPrescriptionRequest req;
        req.set_prescription_id(rx.id);
        req.set_verification_code(rx.code);
        xv1::LookupPrescriptionResponse resp;
        grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
          return as.rx->LookupPrescription(ctx, req, &resp);
        });
        if (!s.ok()) return Unexpected(StatusText(s));
        ++tally_->lookups;
        return Ok();
      }
      xv1::DispensePrescriptionRequest req =
          std::get<xv1::DispensePrescriptionRequest>(step.request);
      req.set_prescription_id(rx.id);
      req.set_verification_code(rx.code);
      xv1::DispensePrescriptionResponse resp;
      grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
        return as.rx->DispensePrescription(ctx, req, &resp);
      });
      if (!s.ok()) return Unexpected(StatusText(s));
      ++tally_->dispensings;
      if (resp.status() == xv1::DISPENSED) ++tally_->fully_dispensed;
      return Ok();
    }

    case StepKind::kLabReport: {
      const auto& req = std::get<lv1::LabReport>(step.request);
      lv1::PushResult resp;
      grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
        return as.labs->PushReport(ctx, req, &resp);
      });
      if (!s.ok()) return Unexpected(StatusText(s));
      ++tally_->lab_reports;
      tally_->lab_results += req.results_size();
      tally_->lab_critical += resp.critical();
      return Ok();
    }
    case StepKind::kLabReuse: {
      lv1::FindReusableResultsRequest req = std::get<lv1::FindReusableResultsRequest>(step.request);
      req.set_regional_id(st.regional_id);
      const absl::Time deadline = absl::Now() + wait_;
      int attempt = 0;
      std::string last;
      do {
        lv1::FindReusableResultsResponse resp;
        grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
          return as.labs->FindReusableResults(ctx, req, &resp);
        });
        if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) {
          return Unexpected(StatusText(s));
        }
        if (s.ok() && !resp.withheld_reason().empty()) {
          return Mismatch(st, "results withheld without a refusal");
        }
        if (s.ok() && resp.results_size() > 0) {
          ++tally_->reuse_searches;
          tally_->results_reused += resp.results_size();
          return Ok();
        }
        last = s.ok() ? "no reusable result found" : StatusText(s);
      } while (Again(deadline, &attempt));
      return Mismatch(st, absl::StrCat("after ", absl::FormatDuration(wait_), ": ", last));
    }

    case StepKind::kConsentGrant:
    case StepKind::kConsentRefuse: {
      cv1::GrantRequest req = std::get<cv1::GrantRequest>(step.request);
      req.mutable_directive()->set_regional_id(st.regional_id);
      const absl::Time deadline = absl::Now() + wait_;
      int attempt = 0;
      grpc::Status s;
      cv1::Directive resp;
      do {
        s = Call(step, [&](grpc::ClientContext* ctx) {
          return as.consent->Grant(ctx, req, &resp);
        });
        // The consent service learns of the patient, and of who registered
        // them, through Kafka.
        if (s.error_code() != grpc::StatusCode::NOT_FOUND &&
            s.error_code() != grpc::StatusCode::PERMISSION_DENIED) {
          break;
        }
      } while (Again(deadline, &attempt));
      if (!s.ok()) return Unexpected(StatusText(s));
      AnswerOf(st, step.seq).id = resp.directive_id();
      ++(step.kind == StepKind::kConsentGrant ? tally_->grants : tally_->refusals);
      return Ok();
    }
    case StepKind::kConsentRevoke: {
      const PatientState::Answer& d = AnswerOf(st, step.ref);
      if (d.id.empty()) return {Outcome::kSkipped, "its directive was not recorded"};
      cv1::RevokeRequest req = std::get<cv1::RevokeRequest>(step.request);
      req.set_directive_id(d.id);
      cv1::Directive resp;
      grpc::Status s = Call(step, [&](grpc::ClientContext* ctx) {
        return as.consent->Revoke(ctx, req, &resp);
      });
      if (!s.ok()) return Unexpected(StatusText(s));
      ++tally_->revocations;
      return Ok();
    }
    case StepKind::kRecordRead:
      return Read(step, st);
  }
  return Unexpected("unknown step kind");
}

// ---- Settings ----

struct Settings {
  std::string certs;
  std::string organisations;
  Addresses addresses;
  Options options;
  int concurrency = 16;
  absl::Duration wait;
  double rate = 0;
  absl::Duration duration;
};

std::string DefaultRun() {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  uint64_t x = static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now())) * 1000 +
               static_cast<uint64_t>(getpid() % 1000);
  std::string s;
  for (int i = 0; i < 8 && x > 0; ++i, x /= 36) s.insert(s.begin(), kDigits[x % 36]);
  return "r" + s;
}

bool ValidRun(const std::string& run) {
  if (run.empty() || run.size() > 16) return false;
  return std::all_of(run.begin(), run.end(), [](char c) { return std::isalnum(c) != 0; });
}

std::string Elapsed(absl::Time start) {
  return absl::StrFormat("%.1f", absl::ToDoubleSeconds(absl::Now() - start));
}

// Runs `steps` (one patient's, in order) as workers pick patients.
void RunPatients(Runner& runner, Stats& stats, const std::vector<std::vector<Step>>& journeys,
                 int concurrency) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&] {
      for (size_t p = next++; p < journeys.size(); p = next++) {
        for (const Step& step : journeys[p]) stats.Step(step, runner.Run(step));
      }
    });
  }
  for (std::thread& t : workers) t.join();
}

std::string TallyJson(const Tally& t, Runner& runner) {
  return absl::StrCat(
      "\"patients_registered\":", t.patients_registered.load(),
      ",\"registrations\":", t.registrations.load(),
      ",\"distinct_regional_ids\":", runner.distinct_regional_ids(),
      ",\"first_registrations\":{\"joined_an_existing_identity\":", t.first_linked.load(),
      ",\"new_with_review\":", t.first_review.load(), "}",
      ",\"referral_registrations_linked\":", t.reregistration_linked.load(),
      ",\"duplicates\":{\"registered\":", t.duplicates.load(),
      ",\"linked_by_resident_id\":", t.duplicates_by_resident_id.load(),
      ",\"auto_linked\":", t.duplicates_auto_linked.load(),
      ",\"sent_to_review\":", t.duplicates_review.load(),
      ",\"not_linked\":", t.duplicates_new.load(),
      ",\"linked_to_another_identity\":", t.duplicates_elsewhere.load(), "}",
      ",\"records\":{\"encounters\":", t.encounters.load(), ",\"referrals\":", t.referrals.load(),
      ",\"referrals_accepted\":", t.referrals_accepted.load(),
      ",\"referrals_completed\":", t.referrals_completed.load(), "}",
      ",\"prescriptions\":{\"issued\":", t.prescriptions.load(),
      ",\"with_safety_findings\":", t.prescriptions_with_findings.load(),
      ",\"looked_up\":", t.lookups.load(), ",\"dispensings\":", t.dispensings.load(),
      ",\"fully_dispensed\":", t.fully_dispensed.load(), "}",
      ",\"labs\":{\"reports\":", t.lab_reports.load(), ",\"results\":", t.lab_results.load(),
      ",\"critical\":", t.lab_critical.load(), ",\"reuse_searches\":", t.reuse_searches.load(),
      ",\"results_reused\":", t.results_reused.load(), "}",
      ",\"consent\":{\"grants\":", t.grants.load(), ",\"refusals\":", t.refusals.load(),
      ",\"revocations\":", t.revocations.load(), ",\"reads_permitted\":",
      t.reads_permitted.load(), ",\"reads_withheld\":", t.reads_withheld.load(), "}",
      ",\"polls\":", t.polls.load(), ",\"retries\":", t.retries.load());
}

std::string TotalsJson(const std::vector<int64_t>& t) {
  return absl::StrCat("{\"ok\":", t[0], ",\"expected_refusal\":", t[1],
                      ",\"unexpected_error\":", t[2], ",\"indeterminate\":", t[3],
                      ",\"skipped\":", t[4], "}");
}

// ---- simulate ----

int Simulate(const Settings& settings, const Region& region, const Clients& clients) {
  const absl::Time start = absl::Now();
  const std::vector<std::vector<Step>> journeys = Population(region, settings.options);
  int64_t total = 0;
  for (const auto& j : journeys) total += static_cast<int64_t>(j.size());
  std::cerr << "meridian-region: " << settings.options.patients << " patients, " << total
            << " steps (run " << settings.options.run << ", seed " << settings.options.seed
            << ", concurrency " << settings.concurrency << ")" << std::endl;

  Stats stats;
  Tally tally;
  std::vector<PatientState> states(journeys.size());
  Runner runner(&clients, &stats, &tally, &states, settings.wait);
  std::atomic<bool> finished{false};
  std::thread progress([&] {
    int64_t last = 0;
    absl::Time last_at = start;
    while (!finished) {
      for (int i = 0; i < 10 && !finished; ++i) absl::SleepFor(absl::Milliseconds(100));
      const int64_t done = stats.done();
      const absl::Time now = absl::Now();
      const double per_second =
          static_cast<double>(done - last) / std::max(1e-3, absl::ToDoubleSeconds(now - last_at));
      last = done;
      last_at = now;
      std::cerr << absl::StrFormat("meridian-region: %ss %d/%d steps (%d%%) %.0f/s; %s; errors %d",
                                   Elapsed(start), done, total,
                                   total > 0 ? 100 * done / total : 100, per_second,
                                   stats.Counts(), stats.unexpected())
                << std::endl;
    }
  });
  RunPatients(runner, stats, journeys, settings.concurrency);
  finished = true;
  progress.join();

  const std::vector<int64_t> totals = stats.Totals();
  std::cout << absl::StrCat(
                   "{\"mode\":\"simulate\",\"run\":", Quote(settings.options.run),
                   ",\"seed\":", settings.options.seed, ",\"patients\":",
                   settings.options.patients, ",\"concurrency\":", settings.concurrency,
                   ",\"seconds\":", Elapsed(start), ",\"steps\":", total,
                   ",\"outcomes\":", TotalsJson(totals), ",\"kinds\":", stats.KindsJson(), ",",
                   TallyJson(tally, runner), ",\"rpc\":", stats.RpcJson(),
                   ",\"unexpected_errors\":", stats.ErrorsJson(), "}")
            << std::endl;
  return totals[2] == 0 ? 0 : 1;
}

// ---- load ----

// The load's schedule: patients take turns (each patient's steps stay in
// order, one at a time); a worker pool runs what the scheduler starts.
class Load {
 public:
  Load(const Settings& settings, const Region& region, const Clients& clients)
      : settings_(settings), region_(region), clients_(clients) {}

  int Run();

 private:
  struct Slot {
    std::unique_ptr<PatientJourney> journey;
    std::deque<Step> pending;
  };
  void Worker(Runner* runner, Stats* stats);

  const Settings& settings_;
  const Region& region_;
  const Clients& clients_;
  std::vector<Slot> slots_;

  absl::Mutex mu_;
  absl::CondVar work_, idle_;
  std::deque<Step> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<int> ready_ ABSL_GUARDED_BY(mu_);  // patients with nothing in flight
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

void Load::Worker(Runner* runner, Stats* stats) {
  while (true) {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !stop_) work_.Wait(&mu_);
      if (queue_.empty()) return;
      step = std::move(queue_.front());
      queue_.pop_front();
    }
    const Result result = runner->Run(step);
    stats->Step(step, result);
    absl::MutexLock lock(&mu_);
    --in_flight_;
    ++completed_;
    ready_.push_back(step.patient);
    idle_.SignalAll();
  }
}

int Load::Run() {
  const Options& options = settings_.options;
  // The pool: every patient's intake (registrations and first visits),
  // quietly, before the clock starts.
  const absl::Time setup_start = absl::Now();
  std::vector<std::vector<Step>> intakes;
  for (int p = 0; p < options.patients; ++p) {
    Slot& slot = slots_.emplace_back();
    slot.journey = std::make_unique<PatientJourney>(&region_, &options, p);
    intakes.push_back(slot.journey->Intake());
  }
  std::vector<PatientState> states(options.patients);
  Stats setup_stats;
  Tally setup_tally;
  {
    std::cerr << "meridian-region: setting up a pool of " << options.patients
              << " patients (run " << options.run << ")" << std::endl;
    Runner setup(&clients_, &setup_stats, &setup_tally, &states, settings_.wait);
    RunPatients(setup, setup_stats, intakes, settings_.concurrency);
  }
  const std::vector<int64_t> setup_totals = setup_stats.Totals();
  std::cerr << "meridian-region: pool ready in " << Elapsed(setup_start) << "s ("
            << setup_stats.done() << " steps, " << setup_totals[2] << " errors); "
            << settings_.rate << " ops/s for " << absl::FormatDuration(settings_.duration)
            << std::endl;

  Stats stats;
  Tally tally;
  Runner runner(&clients_, &stats, &tally, &states, settings_.wait);
  {
    absl::MutexLock lock(&mu_);
    for (int p = 0; p < options.patients; ++p) {
      if (!states[p].lost) ready_.push_back(p);
    }
  }
  std::vector<std::thread> workers;
  for (int w = 0; w < settings_.concurrency; ++w) {
    workers.emplace_back([&] { Worker(&runner, &stats); });
  }

  const absl::Time start = absl::Now();
  const absl::Time end = start + settings_.duration;
  const double rate = settings_.rate;
  int64_t issued = 0, due = 0;
  absl::Time next_report = start + absl::Seconds(1);
  int64_t completed_at_end = 0;
  const int64_t scheduled =
      static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(settings_.duration) * rate));
  while (true) {
    const absl::Time now = absl::Now();
    if (now >= end) break;
    due = std::min<int64_t>(static_cast<int64_t>(absl::ToDoubleSeconds(now - start) * rate) + 1,
                            scheduled);
    {
      absl::MutexLock lock(&mu_);
      while (issued < due && in_flight_ < settings_.concurrency && !ready_.empty()) {
        const int p = ready_.front();
        ready_.pop_front();
        if (states[p].lost) continue;
        Slot& slot = slots_[p];
        for (int tries = 0; slot.pending.empty() && tries < 5; ++tries) {
          for (Step& s : slot.journey->NextEpisode(now)) slot.pending.push_back(std::move(s));
        }
        if (slot.pending.empty()) {
          ready_.push_back(p);
          continue;
        }
        queue_.push_back(std::move(slot.pending.front()));
        slot.pending.pop_front();
        ++in_flight_;
        ++issued;
      }
      work_.SignalAll();
      // Until the next op is due, or a worker frees up when behind.
      const absl::Time next_due =
          issued < due ? now + absl::Milliseconds(5)
                       : start + absl::Seconds(static_cast<double>(issued) / rate);
      idle_.WaitWithDeadline(&mu_, std::min({next_due, next_report, end}));
    }
    if (absl::Now() >= next_report) {
      int64_t completed, in_flight;
      {
        absl::MutexLock lock(&mu_);
        completed = completed_;
        in_flight = in_flight_;
      }
      const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
      std::cerr << absl::StrFormat(
                       "meridian-region load: %.0fs/%.0fs %.1f ops/s (target %.1f), done %d, "
                       "in flight %d, backlog %d, errors %d, p99 %.1f ms",
                       seconds, absl::ToDoubleSeconds(settings_.duration),
                       static_cast<double>(completed) / seconds, rate, completed, in_flight,
                       std::max<int64_t>(0, due - issued), stats.unexpected(), stats.P99())
                << std::endl;
      next_report += absl::Seconds(1);
    }
  }
  const int64_t backlog = std::max<int64_t>(0, scheduled - issued);
  {
    absl::MutexLock lock(&mu_);
    completed_at_end = completed_;
    // What was started finishes (bounded by the steps' own deadlines).
    while (in_flight_ > 0) idle_.Wait(&mu_);
    stop_ = true;
    work_.SignalAll();
  }
  for (std::thread& t : workers) t.join();
  const double seconds = absl::ToDoubleSeconds(settings_.duration);
  const std::vector<int64_t> totals = stats.Totals();
  std::cout << absl::StrCat(
                   "{\"mode\":\"load\",\"run\":", Quote(options.run), ",\"seed\":", options.seed,
                   ",\"target_rate\":", absl::StrFormat("%.2f", rate),
                   ",\"duration_s\":", absl::StrFormat("%.1f", seconds),
                   ",\"concurrency\":", settings_.concurrency,
                   ",\"pool_patients\":", options.patients,
                   ",\"setup\":{\"steps\":", setup_stats.done(),
                   ",\"unexpected_error\":", setup_totals[2],
                   ",\"seconds\":", absl::StrFormat("%.1f", absl::ToDoubleSeconds(
                                                                start - setup_start)),
                   "},\"ops\":{\"scheduled\":", scheduled, ",\"issued\":", issued,
                   ",\"completed_in_window\":", completed_at_end,
                   ",\"completed\":", stats.done(), "}",
                   ",\"achieved_rate\":",
                   absl::StrFormat("%.2f", static_cast<double>(completed_at_end) / seconds),
                   ",\"backlog\":", backlog, ",\"outcomes\":", TotalsJson(totals),
                   ",\"rpc\":", stats.RpcJson(), ",\"kinds\":", stats.KindsJson(), ",",
                   TallyJson(tally, runner), ",\"unexpected_errors\":", stats.ErrorsJson(),
                   "}")
            << std::endl;
  return totals[2] == 0 && setup_totals[2] == 0 ? 0 : 1;
}

void Usage() {
  std::cerr << "usage: meridian-region simulate --patients=N --seed=S [--concurrency=C] "
               "[--run=TAG] [--wait=30s]\n"
               "       meridian-region load --rate=R --duration=D [--concurrency=C] "
               "[--seed=S] [--patients=P] [--run=TAG] [--wait=30s]\n"
               "settings also from MERIDIAN_CERTS_DIR, MERIDIAN_ORGANISATIONS and "
               "MERIDIAN_<SERVICE>_GRPC_ADDR (tools/meridian env); --help lists them\n";
}

}  // namespace
}  // namespace meridian::region

int main(int argc, char** argv) {
  using namespace meridian::region;  // NOLINT(build/namespaces)
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "simulate" && mode != "load") {
    Usage();
    return mode == "--help" || mode == "-h" ? 0 : 2;
  }
  // The mode stands where a program's name would: the rest are settings.
  meridian::config::Reader cfg = meridian::config::Reader::FromProcess(argc - 1, argv + 1);
  Settings s;
  s.certs = cfg.RequiredString("CERTS_DIR");
  s.organisations = cfg.RequiredFile("ORGANISATIONS");
  s.addresses = {cfg.String("PATIENT_INDEX_GRPC_ADDR", "127.0.0.1:25051"),
                 cfg.String("RECORDS_GRPC_ADDR", "127.0.0.1:25052"),
                 cfg.String("CONSENT_GRPC_ADDR", "127.0.0.1:25053"),
                 cfg.String("PRESCRIPTIONS_GRPC_ADDR", "127.0.0.1:25054"),
                 cfg.String("LAB_RESULTS_GRPC_ADDR", "127.0.0.1:25055")};
  s.options.seed = static_cast<uint64_t>(cfg.Int("SEED", 1, 0, int64_t{1} << 62));
  s.options.patients = static_cast<int>(
      cfg.Int("PATIENTS", mode == "load" ? 200 : 1000, 1, 1000000));
  s.options.run = cfg.String("RUN", DefaultRun());
  s.options.duplicate_rate = static_cast<double>(cfg.Int("DUPLICATE_PERCENT", 30, 0, 100)) / 100;
  s.concurrency = static_cast<int>(cfg.Int("CONCURRENCY", mode == "load" ? 32 : 16, 1, 512));
  s.wait = cfg.Duration("WAIT", absl::Seconds(30));
  if (s.wait <= absl::ZeroDuration()) cfg.Error("WAIT", "must be positive");
  if (!ValidRun(s.options.run)) cfg.Error("RUN", "must be 1-16 letters or digits");
  if (mode == "load") {
    const std::string rate = cfg.String("RATE", "50");
    if (!absl::SimpleAtod(rate, &s.rate) || !(s.rate > 0) || s.rate > 100000) {
      cfg.Error("RATE", "must be a number of operations a second, above 0 and at most 100000");
    }
    s.duration = cfg.Duration("DURATION", absl::Seconds(30));
    if (s.duration <= absl::ZeroDuration()) cfg.Error("DURATION", "must be positive");
  }
  cfg.ExitIfInvalid();
  s.options.now = absl::Now();

  absl::StatusOr<meridian::orgs::Directory> directory =
      meridian::orgs::Directory::LoadFile(s.organisations);
  if (!directory.ok()) {
    std::cerr << "meridian-region: " << directory.status() << std::endl;
    return 1;
  }
  absl::StatusOr<Region> region = Region::FromDirectory(*directory);
  if (!region.ok()) {
    std::cerr << "meridian-region: " << region.status() << std::endl;
    return 1;
  }
  absl::StatusOr<std::unique_ptr<Clients>> clients =
      Clients::Make(region->Actors(), s.certs, s.addresses);
  if (!clients.ok()) {
    std::cerr << "meridian-region: " << clients.status() << std::endl;
    return 1;
  }
  if (mode == "simulate") return Simulate(s, *region, **clients);
  Load load(s, *region, **clients);
  return load.Run();
}
