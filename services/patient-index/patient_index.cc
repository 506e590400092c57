#include "services/patient-index/patient_index.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/ids/hash.h"
#include "libs/ids/uuid.h"
#include "libs/status/status_macros.h"
#include "meridian/patient/v1/events.pb.h"
#include "services/patient-index/han.h"
#include "services/patient-index/resident_id.h"
#include "services/patient-index/text.h"

namespace meridian::patient {
namespace {

constexpr size_t kMaxNameChars = 64;
constexpr size_t kMaxTextChars = 256;
constexpr size_t kMaxIdentifierChars = 64;
constexpr int kMaxIdentifiers = 16;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// Checks a free-text field: length in characters and no control characters.
absl::Status CheckText(absl::string_view field, absl::string_view value,
                       size_t max_chars) {
  if (value.size() > max_chars * 4 || DecodeUtf8(value).size() > max_chars) {
    return Invalid(field, absl::StrCat("longer than ", max_chars, " characters"));
  }
  if (!IsCleanText(value)) {
    return Invalid(field, "contains control characters or invalid UTF-8");
  }
  return absl::OkStatus();
}

bool IsLocalIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

absl::Status CheckCode(absl::string_view field, absl::string_view code) {
  if (code.empty()) return absl::OkStatus();
  if (code.size() != 6 || DigitsOnly(code) != code) {
    return Invalid(field, "must be a six-digit division code");
  }
  return absl::OkStatus();
}

std::string SexCode(v1::Sex sex) {
  switch (sex) {
    case v1::SEX_MALE:
      return "m";
    case v1::SEX_FEMALE:
      return "f";
    case v1::SEX_OTHER:
      return "o";
    default:
      return "";
  }
}

// Validates and normalises demographics in place; fills `m`.
absl::Status PrepareDemographics(v1::Demographics* d, absl::string_view today,
                                 MatchRecord* m) {
  MERIDIAN_RETURN_IF_ERROR(
      CheckText("demographics.family_name", d->family_name(), kMaxNameChars));
  MERIDIAN_RETURN_IF_ERROR(
      CheckText("demographics.given_name", d->given_name(), kMaxNameChars));
  MERIDIAN_RETURN_IF_ERROR(
      CheckText("demographics.name_pinyin", d->name_pinyin(), kMaxNameChars * 6));
  MERIDIAN_RETURN_IF_ERROR(CheckText("demographics.phone", d->phone(), 32));
  if (!v1::Sex_IsValid(d->sex())) return Invalid("demographics.sex", "unknown value");
  d->set_family_name(NormalizeText(d->family_name()));
  d->set_given_name(NormalizeText(d->given_name()));
  d->set_name_pinyin(NormalizeText(d->name_pinyin()));
  if (!d->birth_date().empty()) {
    const std::string& b = d->birth_date();
    std::string compact = b.size() == 10 && b[4] == '-' && b[7] == '-'
                              ? b.substr(0, 4) + b.substr(5, 2) + b.substr(8, 2)
                              : "";
    if (!IsValidDate(compact)) {
      return Invalid("demographics.birth_date", "must be a valid YYYY-MM-DD date");
    }
    if (compact > today) return Invalid("demographics.birth_date", "is in the future");
    m->birth_date = compact;
  }
  std::string phone = DigitsOnly(d->phone());
  if (!d->phone().empty() && (phone.size() < 5 || phone.size() > 20)) {
    return Invalid("demographics.phone", "must have 5 to 20 digits");
  }
  d->set_phone(phone);
  v1::Address* a = d->mutable_address();
  MERIDIAN_RETURN_IF_ERROR(CheckText("demographics.address.line", a->line(), kMaxTextChars));
  MERIDIAN_RETURN_IF_ERROR(
      CheckText("demographics.address.locality", a->locality(), kMaxNameChars));
  MERIDIAN_RETURN_IF_ERROR(CheckCode("demographics.address.province_code", a->province_code()));
  MERIDIAN_RETURN_IF_ERROR(CheckCode("demographics.address.city_code", a->city_code()));
  MERIDIAN_RETURN_IF_ERROR(CheckCode("demographics.address.district_code", a->district_code()));
  MERIDIAN_RETURN_IF_ERROR(CheckText("demographics.address.postcode", a->postcode(), 10));
  a->set_line(NormalizeText(a->line()));
  a->set_locality(NormalizeText(a->locality()));
  a->set_postcode(DigitsOnly(a->postcode()));

  m->family = NormalizeName(d->family_name());
  m->given = NormalizeName(d->given_name());
  DerivePinyin(m);
  if (m->family_pinyin.empty() && m->given_pinyin.empty() &&
      !d->name_pinyin().empty()) {
    m->given_pinyin = NormalizeName(d->name_pinyin());
  }
  m->sex = SexCode(d->sex());
  m->phone = phone;
  m->address = a->line();
  m->locality = a->locality();
  m->postcode = a->postcode();
  m->region = a->district_code();
  return absl::OkStatus();
}

v1::MatchDecision ToProto(Decision d) {
  switch (d) {
    case Decision::kMatchedDeterministically:
      return v1::MATCHED_DETERMINISTICALLY;
    case Decision::kAutoLinked:
      return v1::AUTO_LINKED;
    case Decision::kNewWithReview:
      return v1::NEW_IDENTITY_WITH_REVIEW;
    case Decision::kNew:
      return v1::NEW_IDENTITY;
  }
  return v1::NEW_IDENTITY;
}

void FillScore(const Score& s, v1::RegisterPatientResponse* r) {
  r->set_score(s.weight);
  r->set_probability(s.probability);
  for (const FieldContribution& f : s.fields) {
    v1::FieldScore* fs = r->add_fields();
    fs->set_field(FieldName(f.field));
    fs->set_level(LevelName(f.field, f.level));
    fs->set_weight(f.weight);
  }
}

// The header of every patient-index event: keyed (and labelled) by the
// regional ID, so one person's events stay in order.
outbox::EventHeader PatientEvent(const char* type, const std::string& regional_id,
                                 const std::string& source_organisation) {
  return {.topic = kPatientTopic,
          .type = type,
          .key = regional_id,
          .source_organisation = source_organisation,
          .regional_patient_id = regional_id,
          .producer = "patient-index"};
}

// The live identity `regional_id` stands for: itself, or the identity it was
// merged into (following chains). Locks each identity row on the way, so a
// concurrent merge either finishes first or waits for this unit.
absl::StatusOr<std::string> LiveIdentity(PatientUnit& unit, std::string regional_id) {
  for (int hops = 0; hops < 100; ++hops) {
    MERIDIAN_ASSIGN_OR_RETURN(std::string merged_into, unit.LockIdentity(regional_id));
    if (merged_into.empty()) return regional_id;
    regional_id = std::move(merged_into);
  }
  return absl::InternalError("merge chain too long");
}

}  // namespace

absl::StatusOr<Prepared> PrepareRegistration(
    const v1::RegisterPatientRequest& request, absl::string_view today) {
  Prepared p;
  p.request = request;
  const std::string& local = request.local_id();
  if (local.empty()) return Invalid("local_id", "required");
  if (local.size() > 64 || !std::all_of(local.begin(), local.end(), IsLocalIdChar)) {
    return Invalid("local_id", "must be 1-64 of [A-Za-z0-9._:-]");
  }
  MERIDIAN_RETURN_IF_ERROR(
      PrepareDemographics(p.request.mutable_demographics(), today, &p.match));
  if (p.match.family.empty() && p.match.given.empty()) {
    return Invalid("demographics.family_name", "a family or given name is required");
  }
  if (request.identifiers_size() > kMaxIdentifiers) {
    return Invalid("identifiers", absl::StrCat("at most ", kMaxIdentifiers));
  }
  for (int i = 0; i < p.request.identifiers_size(); ++i) {
    v1::Identifier* id = p.request.mutable_identifiers(i);
    const std::string field = absl::StrCat("identifiers[", i, "]");
    if (id->type() == v1::IDENTIFIER_TYPE_UNSPECIFIED ||
        !v1::IdentifierType_IsValid(id->type())) {
      return Invalid(field + ".type", "unknown identifier type");
    }
    MERIDIAN_RETURN_IF_ERROR(
        CheckText(field + ".value", id->value(), kMaxIdentifierChars));
    MERIDIAN_RETURN_IF_ERROR(CheckText(field + ".issuer", id->issuer(), kMaxNameChars));
    if (id->value().empty()) return Invalid(field + ".value", "required");
    if (id->type() == v1::RESIDENT_ID) {
      MERIDIAN_ASSIGN_OR_RETURN(ResidentId rid,
                                ParseResidentId(id->value(), field + ".value", today));
      if (!p.match.birth_date.empty() && p.match.birth_date != rid.birth_date) {
        return Invalid(field + ".value",
                       "resident ID's birth date contradicts demographics.birth_date");
      }
      if ((p.match.sex == "m" && !rid.male) || (p.match.sex == "f" && rid.male)) {
        return Invalid(field + ".value",
                       "resident ID's sex digit contradicts demographics.sex");
      }
      if (!p.match.resident_id.empty() && p.match.resident_id != rid.value) {
        return Invalid(field + ".value",
                       "a second, different resident ID; a person has one");
      }
      if (p.match.birth_date.empty()) p.match.birth_date = rid.birth_date;
      p.match.resident_id = rid.value;
      id->set_value(rid.value);
    } else {
      std::string v = absl::AsciiStrToUpper(NormalizeName(id->value()));
      id->set_value(v);
      if (p.match.other_id.empty() &&
          (id->type() == v1::MEDICAL_INSURANCE ||
           id->type() == v1::RESIDENT_HEALTH_CARD)) {
        p.match.other_id = v;
      }
    }
  }
  return p;
}

// A registration on its way through a group commit.
struct PatientIndex::Job {
  std::string organisation_id;
  const v1::RegisterPatientRequest* request = nullptr;  // as received
  Prepared prepared;
  std::string hash;                  // of the request as received
  std::vector<std::string> locks;    // serialise registrations sharing one
  std::vector<uint64_t> lock_hashes;  // sorted: for grouping
  absl::StatusOr<v1::RegisterPatientResponse> answer =
      absl::InternalError("registration did not run");
};

PatientIndex::PatientIndex(PatientStore* store, const Model* model,
                           PatientIndexOptions options)
    // Not owned: an owner-less alias.
    : PatientIndex(store, std::shared_ptr<const Model>(std::shared_ptr<const Model>(), model),
                   std::move(options)) {}

PatientIndex::PatientIndex(PatientStore* store, std::shared_ptr<const Model> model,
                           PatientIndexOptions options)
    : store_(store),
      model_(std::move(model)),
      options_(std::move(options)),
      commit_(std::make_unique<GroupCommit<Job>>(
          options_.group_commit, [this](std::vector<Job*>& jobs) { RunJobs(jobs); },
          [](const Job& a, const Job& b) {
            // Sorted: a merge finds a shared lock in linear time.
            auto i = a.lock_hashes.begin(), j = b.lock_hashes.begin();
            while (i != a.lock_hashes.end() && j != b.lock_hashes.end()) {
              if (*i == *j) return true;
              *i < *j ? ++i : ++j;
            }
            return false;
          })) {}

PatientIndex::~PatientIndex() = default;

void PatientIndex::SetModel(std::shared_ptr<const Model> model) {
  absl::MutexLock lock(&model_mu_);
  model_ = std::move(model);
}

void PatientIndex::SetTermFrequencies(TermFrequencies tf) {
  auto next = std::make_shared<Model>(model()->parameters());
  next->set_term_frequencies(std::move(tf));
  SetModel(std::move(next));
}

std::shared_ptr<const Model> PatientIndex::model() const {
  absl::ReaderMutexLock lock(&model_mu_);
  return model_;
}

std::string PatientIndex::Today() const {
  if (!options_.today.empty()) return options_.today;
  // The region's civil date (China Standard Time, UTC+8, no daylight
  // saving): a child born this morning is not "in the future".
  return absl::FormatTime("%Y%m%d", absl::Now(), absl::FixedTimeZone(8 * 3600));
}

absl::StatusOr<v1::RegisterPatientResponse> PatientIndex::Register(
    const std::string& organisation_id,
    const v1::RegisterPatientRequest& request) {
  return std::move(RegisterAll(organisation_id, {&request})[0]);
}

std::vector<absl::StatusOr<v1::RegisterPatientResponse>> PatientIndex::RegisterMany(
    const std::string& organisation_id,
    const std::vector<v1::RegisterPatientRequest>& requests) {
  std::vector<const v1::RegisterPatientRequest*> pointers;
  pointers.reserve(requests.size());
  for (const v1::RegisterPatientRequest& r : requests) pointers.push_back(&r);
  return RegisterAll(organisation_id, pointers);
}

std::vector<absl::StatusOr<v1::RegisterPatientResponse>> PatientIndex::RegisterAll(
    const std::string& organisation_id,
    const std::vector<const v1::RegisterPatientRequest*>& requests) {
  const std::string today = Today();
  std::vector<Job> jobs(requests.size());
  std::vector<Job*> valid;
  for (size_t i = 0; i < requests.size(); ++i) {
    const v1::RegisterPatientRequest& request = *requests[i];
    Job& job = jobs[i];
    absl::StatusOr<Prepared> prepared = PrepareRegistration(request, today);
    if (!prepared.ok()) {
      job.answer = prepared.status();
      continue;
    }
    job.organisation_id = organisation_id;
    job.request = &request;
    job.prepared = *std::move(prepared);
    std::string raw;
    request.SerializeToString(&raw);  // proto3 serialization is deterministic enough here
    job.hash = ids::Sha256Hex(raw);
    // Registrations of the same source record, or that share a strong key
    // (resident ID, other identifier, phone, full name in either order),
    // run one after the other, in the order submitted: two institutions
    // registering the same new person at the same moment must not both
    // found an identity. Within a process they never share or overlap a
    // group; across replicas the store's locks order them.
    job.locks = {absl::StrCat("src:", organisation_id, "/", request.local_id())};
    for (const std::string& key : BlockingKeys(job.prepared.match)) {
      if (absl::StartsWith(key, "rid:") || absl::StartsWith(key, "oid:") ||
          absl::StartsWith(key, "ph:") || absl::StartsWith(key, "nn:")) {
        job.locks.push_back(key);
      }
    }
    for (const std::string& lock : job.locks) job.lock_hashes.push_back(absl::HashOf(lock));
    std::sort(job.lock_hashes.begin(), job.lock_hashes.end());
    valid.push_back(&job);
  }
  if (!valid.empty()) commit_->SubmitAll(valid);
  std::vector<absl::StatusOr<v1::RegisterPatientResponse>> answers;
  answers.reserve(jobs.size());
  for (Job& job : jobs) answers.push_back(std::move(job.answer));
  return answers;
}

void PatientIndex::RunJobs(std::vector<Job*>& jobs) {
  std::vector<v1::RegisterPatientResponse> answers;
  absl::Status status = store_->Run(
      [&](PatientUnit& unit) { return RegisterTogether(unit, jobs, answers); });
  if (status.ok()) {
    for (size_t i = 0; i < jobs.size(); ++i) jobs[i]->answer = std::move(answers[i]);
    return;
  }
  if (jobs.size() == 1) {
    jobs[0]->answer = status;
    return;
  }
  // Something in the group failed it: each again alone, so that only the
  // registration at fault fails.
  for (Job* job : jobs) {
    std::vector<Job*> one = {job};
    RunJobs(one);
  }
}

absl::Status PatientIndex::RegisterTogether(
    PatientUnit& unit, const std::vector<Job*>& jobs,
    std::vector<v1::RegisterPatientResponse>& answers) {
  answers.assign(jobs.size(), {});  // a retried transaction starts over
  const std::shared_ptr<const Model> model = this->model();
  std::vector<std::string> locks;
  std::vector<std::pair<std::string, std::string>> sources;
  for (const Job* job : jobs) {
    locks.insert(locks.end(), job->locks.begin(), job->locks.end());
    sources.emplace_back(job->organisation_id, job->request->local_id());
  }
  MERIDIAN_RETURN_IF_ERROR(unit.LockKeys(locks));
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::optional<StoredRecord>> existing,
                            unit.FindSources(sources));

  // What changed: new source records, and updated ones.
  struct Work {
    size_t job = 0;
    bool updated = false;
    StoredRecord record;
    std::string previous;  // regional ID before this registration
    std::vector<StoredRecord> candidates;
    MatchResult result;
    const StoredRecord* matched = nullptr;
    std::string candidate_identity;
  };
  std::vector<Work> work;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& job = *jobs[i];
    if (existing[i].has_value() && existing[i]->request_hash == job.hash) {
      answers[i] = existing[i]->response;
      answers[i].set_unchanged(true);
      continue;
    }
    Work w;
    w.job = i;
    w.updated = existing[i].has_value();
    if (w.updated) w.record = *std::move(existing[i]);
    w.previous = w.record.regional_id;
    w.record.organisation_id = job.organisation_id;
    w.record.local_id = job.request->local_id();
    w.record.request = job.prepared.request;
    w.record.match = job.prepared.match;
    w.record.match.id = w.record.id;
    w.record.request_hash = job.hash;
    work.push_back(std::move(w));
  }
  if (work.empty()) return absl::OkStatus();

  std::vector<const MatchRecord*> probes;
  for (const Work& w : work) probes.push_back(&w.record.match);
  MERIDIAN_ASSIGN_OR_RETURN(
      std::vector<std::vector<StoredRecord>> candidates,
      unit.CandidatesOfEach(probes, options_.match.max_candidates_per_key,
                            options_.match.max_candidates));
  std::vector<std::string> to_lock;  // identities the decisions lean on
  for (size_t k = 0; k < work.size(); ++k) {
    Work& w = work[k];
    w.candidates = std::move(candidates[k]);
    std::vector<const MatchRecord*> pointers;
    for (const StoredRecord& c : w.candidates) {
      if (c.id != w.record.id) pointers.push_back(&c.match);
    }
    std::vector<int64_t> apart;
    if (w.updated) {
      MERIDIAN_ASSIGN_OR_RETURN(apart, unit.KeptApartFrom(w.record.id));
    }
    KeptApart kept_apart = [&](const MatchRecord&, const MatchRecord& c) {
      return std::find(apart.begin(), apart.end(), c.id) != apart.end();
    };
    w.result = Decide(*model, w.record.match, pointers, options_.match, kept_apart);
    for (const StoredRecord& c : w.candidates) {
      if (w.result.candidate == &c.match) w.matched = &c;
    }
    if (w.matched != nullptr) to_lock.push_back(w.matched->regional_id);
    if (!Links(w.result.decision) && !w.previous.empty()) to_lock.push_back(w.previous);
  }

  // The live identities behind those regional IDs (merges move records on),
  // each locked so that a concurrent merge finishes first or waits. They
  // come from committed records, so the store may take them as live and
  // check with the writes (a merge committed meanwhile runs the unit again).
  std::sort(to_lock.begin(), to_lock.end());
  to_lock.erase(std::unique(to_lock.begin(), to_lock.end()), to_lock.end());
  absl::flat_hash_map<std::string, std::string> live;
  if (!to_lock.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> merged_into,
                              unit.LockIdentitiesLazily(to_lock));
    for (size_t i = 0; i < to_lock.size(); ++i) {
      if (merged_into[i].empty()) {
        live[to_lock[i]] = to_lock[i];
      } else {
        MERIDIAN_ASSIGN_OR_RETURN(live[to_lock[i]], LiveIdentity(unit, merged_into[i]));
      }
    }
  }

  std::vector<StoredRecord*> records;
  std::vector<std::pair<Work*, ReviewTaskRow>> tasks;
  for (Work& w : work) {
    if (w.matched != nullptr) w.candidate_identity = live.at(w.matched->regional_id);
    if (Links(w.result.decision)) {
      w.record.regional_id = w.candidate_identity;
    } else if (!w.previous.empty()) {
      // An update never moves a record out of its identity by itself: that
      // identity may be an operator's decision (a review LINK or a merge).
      w.record.regional_id = live.at(w.previous);
    } else {
      w.record.regional_id = ids::NewUuid();
      MERIDIAN_RETURN_IF_ERROR(unit.CreateIdentity(w.record.regional_id));
    }
    if (w.updated) {
      // The record changed: questions asked about its old version are moot.
      MERIDIAN_RETURN_IF_ERROR(unit.SupersedeReviewTasks(w.record.id));
    }
    v1::RegisterPatientResponse& response = answers[w.job];
    response.set_regional_id(w.record.regional_id);
    response.set_decision(ToProto(w.result.decision));
    FillScore(w.result.score, &response);
    if (w.result.decision == Decision::kNewWithReview && w.matched != nullptr &&
        w.candidate_identity != w.record.regional_id) {
      ReviewTaskRow task;
      task.id = ids::NewUuid();
      task.candidate_id = w.matched->id;
      task.probability = w.result.score.probability;
      response.set_review_task_id(task.id);
      tasks.emplace_back(&w, task);
    }
    w.record.response = response;
    records.push_back(&w.record);
  }
  MERIDIAN_RETURN_IF_ERROR(unit.SaveSources(records));
  if (!tasks.empty()) {
    std::vector<ReviewTaskRow> rows;
    for (auto& [w, task] : tasks) {
      task.record_id = w->record.id;
      rows.push_back(task);
    }
    MERIDIAN_RETURN_IF_ERROR(unit.CreateReviewTasks(rows));
  }

  for (const Work& w : work) {
    const std::string& org = jobs[w.job]->organisation_id;
    const v1::RegisterPatientResponse& response = answers[w.job];
    if (!response.review_task_id().empty()) {
      v1::ReviewTaskCreated event;
      event.set_review_task_id(response.review_task_id());
      event.set_organisation_id(org);
      event.set_local_id(w.record.local_id);
      event.set_candidate_regional_id(w.candidate_identity);
      event.set_probability(w.result.score.probability);
      MERIDIAN_RETURN_IF_ERROR(unit.Emit(
          PatientEvent("patient.review_created", w.record.regional_id, org), event));
    }
    v1::PatientRegistered registered;
    registered.set_organisation_id(org);
    registered.set_local_id(w.record.local_id);
    registered.set_regional_id(w.record.regional_id);
    registered.set_decision(response.decision());
    registered.set_probability(response.probability());
    registered.set_updated(w.updated);
    const v1::Demographics& d = w.record.request.demographics();
    v1::PatientRegistered::Profile* profile = registered.mutable_profile();
    profile->set_sex(d.sex());
    profile->set_birth_date(d.birth_date());
    profile->set_province_code(d.address().province_code());
    profile->set_city_code(d.address().city_code());
    profile->set_district_code(d.address().district_code());
    MERIDIAN_RETURN_IF_ERROR(unit.Emit(
        PatientEvent("patient.registered", w.record.regional_id, org), registered));
    if (w.previous != w.record.regional_id) {
      v1::PatientLinked link;
      link.set_organisation_id(org);
      link.set_local_id(w.record.local_id);
      link.set_regional_id(w.record.regional_id);
      link.set_previous_regional_id(w.previous);
      MERIDIAN_RETURN_IF_ERROR(unit.Emit(
          PatientEvent("patient.linked", w.record.regional_id, org), link));
    }
  }
  return absl::OkStatus();
}

v1::GetPatientResponse PatientIndex::Golden(
    const std::string& regional_id, const std::vector<StoredRecord>& records) const {
  v1::GetPatientResponse out;
  out.set_regional_id(regional_id);
  // Survivorship: most trusted source first, then the most recent (records
  // come oldest first), then the most complete value.
  std::vector<const StoredRecord*> order;
  for (const StoredRecord& r : records) order.push_back(&r);
  auto rank = [&](const StoredRecord* r) {
    return options_.trust_rank ? options_.trust_rank(r->organisation_id) : 0;
  };
  std::sort(order.begin(), order.end(), [&](auto* a, auto* b) {
    const int ra = rank(a), rb = rank(b);
    return ra != rb ? ra > rb : a->id > b->id;
  });
  v1::Demographics* g = out.mutable_golden();
  auto pick = [&](auto get, auto set) {
    std::string best;
    for (const StoredRecord* r : order) {
      std::string v = get(r->request.demographics());
      if (!v.empty() && best.empty()) best = v;
    }
    set(best);
  };
  pick([](const v1::Demographics& d) { return d.family_name(); },
       [&](const std::string& v) { g->set_family_name(v); });
  pick([](const v1::Demographics& d) { return d.given_name(); },
       [&](const std::string& v) { g->set_given_name(v); });
  pick([](const v1::Demographics& d) { return d.name_pinyin(); },
       [&](const std::string& v) { g->set_name_pinyin(v); });
  pick([](const v1::Demographics& d) { return d.birth_date(); },
       [&](const std::string& v) { g->set_birth_date(v); });
  pick([](const v1::Demographics& d) { return d.phone(); },
       [&](const std::string& v) { g->set_phone(v); });
  for (const StoredRecord* r : order) {
    if (r->request.demographics().sex() != v1::SEX_UNSPECIFIED) {
      g->set_sex(r->request.demographics().sex());
      break;
    }
  }
  // The most complete address of the best-ranked sources.
  int best_fields = -1;
  for (const StoredRecord* r : order) {
    const v1::Address& a = r->request.demographics().address();
    int n = !a.line().empty() + !a.district_code().empty() + !a.locality().empty() +
            !a.postcode().empty() + !a.city_code().empty() + !a.province_code().empty();
    if (n > best_fields) {
      best_fields = n;
      *g->mutable_address() = a;
    }
  }
  std::map<std::pair<int, std::string>, v1::Identifier> ids;
  for (const StoredRecord* r : order) {
    for (const v1::Identifier& id : r->request.identifiers()) {
      ids.emplace(std::make_pair(static_cast<int>(id.type()), id.value()), id);
    }
  }
  for (auto& [k, id] : ids) *out.add_identifiers() = id;
  for (const StoredRecord& r : records) {
    v1::SourceRecord* s = out.add_sources();
    s->set_organisation_id(r.organisation_id);
    s->set_local_id(r.local_id);
    *s->mutable_demographics() = r.request.demographics();
    *s->mutable_identifiers() = r.request.identifiers();
    s->set_decision(r.response.decision());
    s->set_score(r.response.score());
  }
  return out;
}

absl::StatusOr<v1::GetPatientResponse> PatientIndex::GetPatient(
    const std::string& regional_id) {
  if (!ids::IsUuid(regional_id)) return Invalid("regional_id", "not a regional patient ID");
  // A merged identity redirects to the one it was merged into.
  MERIDIAN_ASSIGN_OR_RETURN(std::string live,
                            store_->ResolveIdentity(absl::AsciiStrToLower(regional_id)));
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredRecord> records, store_->RecordsOf(live));
  if (records.empty()) return absl::NotFoundError("regional_id: no such patient");
  return Golden(live, records);
}

absl::StatusOr<v1::GetCrossReferencesResponse> PatientIndex::GetCrossReferences(
    const std::string& caller_organisation,
    const v1::GetCrossReferencesRequest& request) {
  const std::string org = request.organisation_id().empty()
                              ? caller_organisation
                              : request.organisation_id();
  if (request.local_id().empty()) return Invalid("local_id", "required");
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<StoredRecord> source,
                            store_->FindSource(org, request.local_id()));
  if (!source.has_value()) {
    return absl::NotFoundError("local_id: not registered by that organisation");
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredRecord> records,
                            store_->RecordsOf(source->regional_id));
  v1::GetCrossReferencesResponse out;
  out.set_regional_id(source->regional_id);
  for (const StoredRecord& r : records) {
    if (r.id == source->id) continue;
    v1::CrossReference* x = out.add_references();
    x->set_organisation_id(r.organisation_id);
    x->set_local_id(r.local_id);
  }
  return out;
}

absl::StatusOr<v1::SearchPatientsResponse> PatientIndex::Search(
    const v1::SearchPatientsRequest& request) {
  v1::RegisterPatientRequest as_registration;
  as_registration.set_local_id("search");
  *as_registration.mutable_demographics() = request.demographics();
  *as_registration.mutable_identifiers() = request.identifiers();
  // Search needs no name when an identifier or phone is given.
  if (as_registration.demographics().family_name().empty() &&
      as_registration.demographics().given_name().empty()) {
    as_registration.mutable_demographics()->set_given_name("?");
  }
  MERIDIAN_ASSIGN_OR_RETURN(Prepared p, PrepareRegistration(as_registration, Today()));
  MatchRecord& probe = p.match;
  if (probe.given == "?") probe.given.clear(), probe.given_pinyin.clear();
  const bool has_name = !probe.family.empty() || !probe.given.empty();
  const bool has_id = !probe.resident_id.empty() || !probe.other_id.empty();
  const bool has_year = !probe.birth_date.empty();
  if (!has_id && probe.phone.empty() && !(has_name && has_year)) {
    return Invalid("demographics",
                   "give an identifier, a phone, or a name with a birth date");
  }
  const double min_p = request.min_probability() > 0 ? request.min_probability() : 0.5;
  const int max_results =
      std::clamp(request.max_results() > 0 ? request.max_results() : 10, 1, 50);
  MERIDIAN_ASSIGN_OR_RETURN(
      std::vector<StoredRecord> candidates,
      store_->Candidates(probe, options_.match.wide_candidates_per_key,
                         options_.match.max_candidates));
  const std::shared_ptr<const Model> model = this->model();
  std::map<std::string, Score> best;
  for (const StoredRecord& c : candidates) {
    Score s = !probe.resident_id.empty() && probe.resident_id == c.match.resident_id
                  ? Score{1000, 1.0, {}}
                  : model->ScorePair(probe, c.match);
    auto it = best.find(c.regional_id);
    if (it == best.end() || it->second.weight < s.weight) best[c.regional_id] = s;
  }
  std::vector<std::pair<std::string, Score>> ranked(best.begin(), best.end());
  std::sort(ranked.begin(), ranked.end(),
            [](const auto& a, const auto& b) { return a.second.weight > b.second.weight; });
  v1::SearchPatientsResponse out;
  for (const auto& [regional_id, score] : ranked) {
    if (score.probability < min_p || out.candidates_size() >= max_results) break;
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredRecord> records,
                              store_->RecordsOf(regional_id));
    v1::SearchCandidate* c = out.add_candidates();
    c->set_regional_id(regional_id);
    c->set_probability(score.probability);
    c->set_score(score.weight);
    *c->mutable_golden() = Golden(regional_id, records).golden();
  }
  return out;
}

absl::StatusOr<v1::ListReviewTasksResponse> PatientIndex::ListReviewTasks(
    const v1::ListReviewTasksRequest& request) {
  const int size = std::clamp(request.page_size() > 0 ? request.page_size() : 20, 1, 100);
  if (!request.page_token().empty() && !ids::IsUuid(request.page_token())) {
    return Invalid("page_token", "not a token from a previous response");
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<ReviewTaskRow> rows,
                            store_->OpenReviewTasks(request.page_token(), size + 1));
  v1::ListReviewTasksResponse out;
  for (size_t i = 0; i < rows.size() && static_cast<int>(i) < size; ++i) {
    const ReviewTaskRow& row = rows[i];
    MERIDIAN_ASSIGN_OR_RETURN(StoredRecord record, store_->RecordById(row.record_id));
    MERIDIAN_ASSIGN_OR_RETURN(StoredRecord candidate,
                              store_->RecordById(row.candidate_id));
    v1::ReviewTask* t = out.add_tasks();
    t->set_id(row.id);
    t->mutable_record()->set_organisation_id(record.organisation_id);
    t->mutable_record()->set_local_id(record.local_id);
    t->set_record_regional_id(record.regional_id);
    t->mutable_candidate()->set_organisation_id(candidate.organisation_id);
    t->mutable_candidate()->set_local_id(candidate.local_id);
    t->set_candidate_regional_id(candidate.regional_id);
    t->set_probability(row.probability);
    t->set_created_at(row.created_at);
  }
  if (static_cast<int>(rows.size()) > size) {
    out.set_next_page_token(rows[size - 1].id);
  }
  return out;
}

absl::StatusOr<v1::ResolveReviewTaskResponse> PatientIndex::ResolveReviewTask(
    const std::string& operator_organisation,
    const v1::ResolveReviewTaskRequest& request) {
  if (!ids::IsUuid(request.review_task_id())) {
    return Invalid("review_task_id", "not a review task ID");
  }
  if (request.resolution() != v1::LINK && request.resolution() != v1::KEEP_APART) {
    return Invalid("resolution", "must be LINK or KEEP_APART");
  }
  if (request.reason().empty()) return Invalid("reason", "required");
  MERIDIAN_RETURN_IF_ERROR(CheckText("reason", request.reason(), kMaxTextChars));
  v1::ResolveReviewTaskResponse out;
  MERIDIAN_RETURN_IF_ERROR(store_->Run([&](PatientUnit& unit) -> absl::Status {
    MERIDIAN_ASSIGN_OR_RETURN(ReviewTaskRow task,
                              unit.TakeOpenReviewTask(request.review_task_id()));
    MERIDIAN_ASSIGN_OR_RETURN(StoredRecord record, unit.RecordById(task.record_id));
    MERIDIAN_ASSIGN_OR_RETURN(StoredRecord candidate,
                              unit.RecordById(task.candidate_id));
    const std::string previous = record.regional_id;
    if (request.resolution() == v1::KEEP_APART) {
      MERIDIAN_RETURN_IF_ERROR(unit.KeepApart(record.id, candidate.id));
    } else {
      MERIDIAN_ASSIGN_OR_RETURN(std::string target,
                                LiveIdentity(unit, candidate.regional_id));
      if (record.regional_id != target) {
        record.regional_id = target;
        record.response.set_regional_id(target);
        MERIDIAN_RETURN_IF_ERROR(unit.SaveSource(record));
        v1::PatientLinked link;
        link.set_organisation_id(record.organisation_id);
        link.set_local_id(record.local_id);
        link.set_regional_id(record.regional_id);
        link.set_previous_regional_id(previous);
        MERIDIAN_RETURN_IF_ERROR(unit.Emit(
            PatientEvent("patient.linked", record.regional_id, operator_organisation),
            link));
        // An identity left without records would answer NOT_FOUND to whoever
        // still holds its ID; it redirects to where its record went instead.
        MERIDIAN_ASSIGN_OR_RETURN(std::string previous_merged_into,
                                  unit.LockIdentity(previous));
        MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredRecord> left,
                                  unit.LockRecordsOf(previous));
        if (previous_merged_into.empty() && left.empty()) {
          MERIDIAN_RETURN_IF_ERROR(unit.SetMergedInto(previous, target));
        }
      }
    }
    MERIDIAN_RETURN_IF_ERROR(unit.CloseReviewTask(
        task.id, request.resolution() == v1::LINK ? "linked" : "kept_apart",
        operator_organisation, request.reason()));
    v1::ReviewTaskResolved resolved;
    resolved.set_review_task_id(task.id);
    resolved.set_resolution(request.resolution());
    resolved.set_resolved_by(operator_organisation);
    resolved.set_regional_id(record.regional_id);
    MERIDIAN_RETURN_IF_ERROR(unit.Emit(
        PatientEvent("patient.review_resolved", record.regional_id, operator_organisation),
        resolved));
    out.set_regional_id(record.regional_id);
    return absl::OkStatus();
  }));
  return out;
}

namespace {

void AddReferences(const std::vector<StoredRecord>& records,
                   google::protobuf::RepeatedPtrField<v1::CrossReference>* out) {
  for (const StoredRecord& r : records) {
    v1::CrossReference* x = out->Add();
    x->set_organisation_id(r.organisation_id);
    x->set_local_id(r.local_id);
  }
}

}  // namespace

absl::StatusOr<v1::MergePatientsResponse> PatientIndex::Merge(
    const std::string& operator_organisation,
    const v1::MergePatientsRequest& request) {
  const std::string from = absl::AsciiStrToLower(request.from_regional_id());
  const std::string into = absl::AsciiStrToLower(request.into_regional_id());
  if (!ids::IsUuid(from)) return Invalid("from_regional_id", "not a regional patient ID");
  if (!ids::IsUuid(into)) return Invalid("into_regional_id", "not a regional patient ID");
  if (from == into) return Invalid("into_regional_id", "must differ from from_regional_id");
  if (request.reason().empty()) return Invalid("reason", "required");
  MERIDIAN_RETURN_IF_ERROR(CheckText("reason", request.reason(), kMaxTextChars));
  v1::MergePatientsResponse out;
  MERIDIAN_RETURN_IF_ERROR(store_->Run([&](PatientUnit& unit) -> absl::Status {
    // Lock both identities in a fixed order so concurrent merges cannot
    // deadlock.
    for (const std::string& id : {std::min(from, into), std::max(from, into)}) {
      absl::StatusOr<std::string> merged = unit.LockIdentity(id);
      if (!merged.ok()) {
        return absl::NotFoundError(absl::StrCat(
            id == from ? "from_regional_id" : "into_regional_id", ": no such patient"));
      }
      if (!merged->empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            id == from ? "from_regional_id" : "into_regional_id",
            ": already merged into another identity"));
      }
    }
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredRecord> moving, unit.LockRecordsOf(from));
    MergeRow merge{"", from, into, {}};
    for (StoredRecord& r : moving) {
      r.regional_id = into;
      r.response.set_regional_id(into);
      MERIDIAN_RETURN_IF_ERROR(unit.SaveSource(r));
      merge.record_ids.push_back(r.id);
    }
    MERIDIAN_RETURN_IF_ERROR(unit.SetMergedInto(from, into));
    MERIDIAN_ASSIGN_OR_RETURN(
        std::string merge_id, unit.RecordMerge(merge, operator_organisation, request.reason()));
    v1::PatientsMerged event;
    event.set_merge_id(merge_id);
    event.set_from_regional_id(from);
    event.set_into_regional_id(into);
    event.set_by(operator_organisation);
    AddReferences(moving, event.mutable_records());
    MERIDIAN_RETURN_IF_ERROR(unit.Emit(
        PatientEvent("patient.merged", into, operator_organisation),
        event));
    out.set_merge_id(merge_id);
    out.set_records_moved(static_cast<int>(moving.size()));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::UnmergePatientsResponse> PatientIndex::Unmerge(
    const std::string& operator_organisation,
    const v1::UnmergePatientsRequest& request) {
  if (!ids::IsUuid(request.merge_id())) return Invalid("merge_id", "not a merge ID");
  if (request.reason().empty()) return Invalid("reason", "required");
  MERIDIAN_RETURN_IF_ERROR(CheckText("reason", request.reason(), kMaxTextChars));
  v1::UnmergePatientsResponse out;
  MERIDIAN_RETURN_IF_ERROR(store_->Run([&](PatientUnit& unit) -> absl::Status {
    MERIDIAN_ASSIGN_OR_RETURN(MergeRow merge,
                              unit.TakeMerge(absl::AsciiStrToLower(request.merge_id())));
    const std::string& a = merge.from_regional_id;
    const std::string& b = merge.into_regional_id;
    MERIDIAN_RETURN_IF_ERROR(unit.LockIdentity(std::min(a, b)).status());
    MERIDIAN_RETURN_IF_ERROR(unit.LockIdentity(std::max(a, b)).status());
    MERIDIAN_ASSIGN_OR_RETURN(std::string survivor_merged_into, unit.LockIdentity(b));
    if (!survivor_merged_into.empty()) {
      return absl::FailedPreconditionError(
          "merge_id: the surviving identity was merged again since; undo that "
          "merge first");
    }
    // Return the records the merge moved, where they still are in the
    // surviving identity (a record re-registered since may have moved on).
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredRecord> in_survivor, unit.LockRecordsOf(b));
    std::vector<StoredRecord> restored;
    for (StoredRecord& r : in_survivor) {
      if (std::find(merge.record_ids.begin(), merge.record_ids.end(), r.id) ==
          merge.record_ids.end()) {
        continue;
      }
      r.regional_id = a;
      r.response.set_regional_id(a);
      MERIDIAN_RETURN_IF_ERROR(unit.SaveSource(r));
      restored.push_back(r);
    }
    MERIDIAN_RETURN_IF_ERROR(unit.SetMergedInto(a, ""));
    MERIDIAN_RETURN_IF_ERROR(
        unit.MarkUnmerged(merge.id, operator_organisation, request.reason()));
    v1::PatientsUnmerged event;
    event.set_merge_id(merge.id);
    event.set_restored_regional_id(a);
    event.set_from_regional_id(b);
    event.set_by(operator_organisation);
    AddReferences(restored, event.mutable_records());
    MERIDIAN_RETURN_IF_ERROR(unit.Emit(
        PatientEvent("patient.unmerged", a, operator_organisation),
        event));
    out.set_regional_id(a);
    out.set_records_moved(static_cast<int>(restored.size()));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::UnlinkRecordResponse> PatientIndex::Unlink(
    const std::string& operator_organisation, const v1::UnlinkRecordRequest& request) {
  if (request.record().organisation_id().empty()) {
    return Invalid("record.organisation_id", "required");
  }
  if (request.record().local_id().empty()) return Invalid("record.local_id", "required");
  if (request.reason().empty()) return Invalid("reason", "required");
  MERIDIAN_RETURN_IF_ERROR(CheckText("reason", request.reason(), kMaxTextChars));
  v1::UnlinkRecordResponse out;
  MERIDIAN_RETURN_IF_ERROR(store_->Run([&](PatientUnit& unit) -> absl::Status {
    MERIDIAN_ASSIGN_OR_RETURN(
        std::optional<StoredRecord> record,
        unit.FindSource(request.record().organisation_id(), request.record().local_id()));
    if (!record.has_value()) return absl::NotFoundError("record: not registered");
    const std::string previous = record->regional_id;
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredRecord> others, unit.LockRecordsOf(previous));
    if (others.size() <= 1) {
      return absl::FailedPreconditionError("record: it is alone in its identity already");
    }
    for (const StoredRecord& other : others) {
      if (other.id != record->id) {
        MERIDIAN_RETURN_IF_ERROR(unit.KeepApart(record->id, other.id));
      }
    }
    record->regional_id = ids::NewUuid();
    record->response.set_regional_id(record->regional_id);
    MERIDIAN_RETURN_IF_ERROR(unit.CreateIdentity(record->regional_id));
    MERIDIAN_RETURN_IF_ERROR(unit.SaveSource(*record));
    v1::PatientLinked link;
    link.set_organisation_id(record->organisation_id);
    link.set_local_id(record->local_id);
    link.set_regional_id(record->regional_id);
    link.set_previous_regional_id(previous);
    MERIDIAN_RETURN_IF_ERROR(unit.Emit(
        PatientEvent("patient.linked", record->regional_id, operator_organisation),
        link));
    out.set_regional_id(record->regional_id);
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace meridian::patient
