#include "libs/deid/deid.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/timestamp.pb.h"
#include "libs/config/config.h"
#include "libs/fields/fields.h"
#include "libs/status/status_macros.h"
#include "meridian/privacy/v1/privacy.pb.h"
#include "re2/re2.h"

namespace meridian::deid {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Dates of care are civil dates in the region (China Standard Time).
const absl::TimeZone& Region() {
  static const absl::TimeZone* const kZone = new absl::TimeZone(absl::FixedTimeZone(8 * 3600));
  return *kZone;
}

// SHA-256 states that have absorbed the key's inner and outer pads:
// HMAC(m) = H(opad-state || H(ipad-state || m)). A call copies two small
// structs instead of keying a fresh HMAC (OpenSSL 3's one-shot HMAC()
// fetches the algorithm every time, and EVP context copies allocate): the
// pseudonyms are most of the guard's cost per event. The low-level SHA-256
// interface is deprecated in OpenSSL 3 but kept, and is what makes this
// cheap.
}  // namespace

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct Deidentifier::HmacState {
  SHA256_CTX inner, outer;

  explicit HmacState(const std::string& secret) {
    unsigned char block[SHA256_CBLOCK] = {0};
    if (secret.size() > sizeof(block)) {
      SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), block);
    } else {
      std::memcpy(block, secret.data(), secret.size());
    }
    unsigned char ipad[SHA256_CBLOCK], opad[SHA256_CBLOCK];
    for (size_t i = 0; i < sizeof(block); ++i) {
      ipad[i] = block[i] ^ 0x36;
      opad[i] = block[i] ^ 0x5c;
    }
    SHA256_Init(&inner);
    SHA256_Update(&inner, ipad, sizeof(ipad));
    SHA256_Init(&outer);
    SHA256_Update(&outer, opad, sizeof(opad));
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(ipad, sizeof(ipad));
    OPENSSL_cleanse(opad, sizeof(opad));
  }

  void Mac(absl::string_view data, unsigned char out[SHA256_DIGEST_LENGTH]) const {
    unsigned char inner_hash[SHA256_DIGEST_LENGTH];
    SHA256_CTX c = inner;
    SHA256_Update(&c, data.data(), data.size());
    SHA256_Final(inner_hash, &c);
    c = outer;
    SHA256_Update(&c, inner_hash, sizeof(inner_hash));
    SHA256_Final(out, &c);
  }
};
#pragma GCC diagnostic pop

namespace {

// The day moved as `action` says (SHIFT_DATE, COARSEN_WEEK, COARSEN_MONTH).
absl::CivilDay Moved(absl::CivilDay day, pv1::Action action, int shift_days) {
  switch (action) {
    case pv1::SHIFT_DATE:
      return day + shift_days;
    case pv1::COARSEN_WEEK: {
      const int from_monday =
          (static_cast<int>(absl::GetWeekday(day)) - static_cast<int>(absl::Weekday::monday) + 7) %
          7;
      return day - from_monday;
    }
    case pv1::COARSEN_MONTH:
      return absl::CivilDay(absl::CivilMonth(day));
    default:
      return day;
  }
}

bool IsDateAction(pv1::Action a) {
  return a == pv1::SHIFT_DATE || a == pv1::COARSEN_WEEK || a == pv1::COARSEN_MONTH;
}

// "40-44", or "90+" at and above 90 (top-coded: few people are that old).
std::string AgeBand(absl::CivilDay birth, absl::CivilDay at, int width) {
  int age = static_cast<int>(at.year() - birth.year());
  if (at.month() < birth.month() || (at.month() == birth.month() && at.day() < birth.day())) {
    --age;
  }
  if (age < 0) age = 0;
  if (age >= 90) return "90+";
  const int low = age / width * width;
  return width == 1 ? absl::StrCat(low) : absl::StrCat(low, "-", low + width - 1);
}

bool ValidKeyId(absl::string_view id) {
  if (id.empty() || id.size() > 16) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

absl::Status ValidatePolicy(const pv1::Policy& p) {
  if (p.rules().empty()) return absl::InvalidArgumentError("policy: no rules");
  bool shifts = false, bands = false, postcodes = false;
  for (int i = 0; i < p.rules_size(); ++i) {
    const pv1::Rule& r = p.rules(i);
    if (r.action() == pv1::ACTION_UNSPECIFIED || !pv1::Action_IsValid(r.action())) {
      return absl::InvalidArgumentError(absl::StrCat("policy: rules[", i, "].action: required"));
    }
    if (r.data_class() == pv1::DATA_CLASS_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy: rules[", i, "].data_class: required"));
    }
    shifts |= r.action() == pv1::SHIFT_DATE;
    bands |= r.action() == pv1::AGE_BAND;
    postcodes |= r.action() == pv1::POSTCODE_PREFIX;
  }
  if (shifts && (p.max_date_shift_days() < 1 || p.max_date_shift_days() > 365)) {
    return absl::InvalidArgumentError("policy: max_date_shift_days must be 1-365");
  }
  if (bands && (p.age_band_years() < 1 || p.age_band_years() > 20)) {
    return absl::InvalidArgumentError("policy: age_band_years must be 1-20");
  }
  if (postcodes && (p.postcode_prefix_digits() < 1 || p.postcode_prefix_digits() > 5)) {
    return absl::InvalidArgumentError("policy: postcode_prefix_digits must be 1-5");
  }
  return absl::OkStatus();
}

uint64_t NextGeneration() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

}  // namespace

std::string Scrub(absl::string_view text, const std::vector<std::string>& names) {
  // Resident IDs (18 characters, the last a digit or X, or the old 15
  // digits) go with the whole run of digits and Xs they sit in: any such run
  // holding 15 digits in a row, so an ID written against another number (an
  // ID then a phone, a card number, IDs back to back) leaves no part of
  // itself (region, birth date) behind (found by scrub_fuzz).
  // Then mobile numbers with an optional +86, and landlines.
  static const RE2* const kResidentId = new RE2(R"([\dXx]*\d{15,}[\dXx]*)");
  static const RE2* const kMobile = new RE2(R"((?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4})");
  static const RE2* const kLandline = new RE2(R"(0\d{2,3}-\d{7,8})");
  std::string out(text);
  RE2::GlobalReplace(&out, *kResidentId, "[ID]");
  RE2::GlobalReplace(&out, *kMobile, "[PHONE]");
  RE2::GlobalReplace(&out, *kLandline, "[PHONE]");
  // Every name in one pass over the text: the longest name wins where two
  // start at the same place, and a mark once written is not searched again.
  // Name by name, a list holding pieces of the mark itself ("[N", "E]")
  // rewrote every earlier mark and grew the text without bound (found by
  // scrub_fuzz).
  std::vector<std::pair<absl::string_view, absl::string_view>> marks;
  for (const std::string& name : names) {
    const auto characters = std::count_if(name.begin(), name.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // UTF-8 lead bytes
    });
    if (characters < 2) continue;  // one character would erase too much
    marks.emplace_back(name, "[NAME]");
  }
  if (!marks.empty()) absl::StrReplaceAll(marks, &out);
  return out;
}

absl::StatusOr<std::vector<Key>> LoadKeys(const std::string& path) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string text, config::ReadFile(path));
  std::vector<Key> keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    std::string secret;
    if (parts.size() != 2 || !ValidKeyId(parts[0]) || parts[1].size() % 2 != 0 ||
        !std::all_of(parts[1].begin(), parts[1].end(),
                     [](char c) { return absl::ascii_isxdigit(c); })) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": expected \"<key id> <hex secret>\""));
    }
    keys.push_back({std::string(parts[0]), absl::HexStringToBytes(parts[1])});
  }
  if (keys.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no keys"));
  return keys;
}

absl::StatusOr<pv1::Policy> LoadPolicy(const std::string& path) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string text, config::ReadFile(path));
  pv1::Policy policy;
  if (!google::protobuf::TextFormat::ParseFromString(text, &policy)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a valid policy"));
  }
  absl::Status valid = ValidatePolicy(policy);
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", valid.message()));
  return policy;
}

absl::StatusOr<std::unique_ptr<Deidentifier>> Deidentifier::Create(pv1::Policy policy,
                                                                   std::vector<Key> keys) {
  MERIDIAN_RETURN_IF_ERROR(ValidatePolicy(policy));
  if (keys.empty()) return absl::InvalidArgumentError("keys: at least one");
  for (const Key& k : keys) {
    if (!ValidKeyId(k.id)) {
      return absl::InvalidArgumentError("keys: an ID is 1-16 of [A-Za-z0-9_-]");
    }
    if (k.secret.size() < 32) return absl::InvalidArgumentError("keys: a secret is >= 32 bytes");
  }
  return std::unique_ptr<Deidentifier>(new Deidentifier(std::move(policy), std::move(keys)));
}

Deidentifier::Deidentifier(pv1::Policy policy, std::vector<Key> keys)
    : generation_(NextGeneration()),
      policy_(std::move(policy)),
      keys_(std::move(keys)),
      hmac_(std::make_unique<HmacState>(keys_[0].secret)) {
  for (const pv1::Rule& r : policy_.rules()) shifts_dates_ |= r.action() == pv1::SHIFT_DATE;
}

Deidentifier::~Deidentifier() = default;

std::string Deidentifier::Pseudonym(absl::string_view value) const {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char mac[SHA256_DIGEST_LENGTH];
  hmac_->Mac(value, mac);
  // "<key id>:" and the first 16 bytes in hex, built in one allocation.
  const size_t prefix = keys_[0].id.size() + 1;
  std::string out(prefix + 32, ':');
  std::memcpy(out.data(), keys_[0].id.data(), prefix - 1);
  char* hex = out.data() + prefix;
  for (int i = 0; i < 16; ++i) {
    hex[2 * i] = kHex[mac[i] >> 4];
    hex[2 * i + 1] = kHex[mac[i] & 0xf];
  }
  return out;
}

int Deidentifier::DateShiftDays(absl::string_view subject_id) const {
  const int max = policy_.max_date_shift_days();
  if (max <= 0) return 0;
  unsigned char mac[SHA256_DIGEST_LENGTH];
  hmac_->Mac(absl::StrCat("date-shift\n", subject_id), mac);
  uint64_t v = 0;
  std::memcpy(&v, mac, sizeof(v));
  return static_cast<int>(v % (2 * static_cast<uint64_t>(max) + 1)) - max;
}

pv1::Action Deidentifier::ActionFor(const FieldDescriptor* field) const {
  // A map entry's key and value are judged as the map field itself.
  const Descriptor* entry = field->containing_type();
  if (entry->options().map_entry() && entry->containing_type() != nullptr) {
    const Descriptor* outer = entry->containing_type();
    for (int i = 0; i < outer->field_count(); ++i) {
      if (outer->field(i)->message_type() == entry) {
        field = outer->field(i);
        break;
      }
    }
  }
  const pv1::DataClass c = field->options().GetExtension(pv1::data_class);
  const pv1::Kind k = field->options().GetExtension(pv1::kind);
  if (c == pv1::DATA_CLASS_UNSPECIFIED) return pv1::DROP;  // fail closed
  for (const pv1::Rule& r : policy_.rules()) {
    // A rule without a kind is for the fields without one: a field whose
    // kind no rule names is dropped, never kept by a wildcard.
    if (r.data_class() == c && r.kind() == k) return r.action();
  }
  return pv1::DROP;
}

const std::vector<Deidentifier::FieldPlan>& Deidentifier::PlanFor(const Descriptor* d) const {
  // Each thread remembers the root plans it has used, keyed by this guard's
  // generation (never reused, unlike its address): no lock per message.
  // Nested messages follow their field's sub-plan.
  thread_local absl::flat_hash_map<std::pair<uint64_t, const Descriptor*>,
                                   const std::vector<FieldPlan>*>
      seen;
  const auto key = std::make_pair(generation_, d);
  if (auto it = seen.find(key); it != seen.end()) return *it->second;
  const std::vector<FieldPlan>* plan;
  {
    absl::MutexLock lock(&mu_);
    plan = BuildPlanLocked(d);
  }
  seen.emplace(key, plan);
  return *plan;
}

const std::vector<Deidentifier::FieldPlan>* Deidentifier::BuildPlanLocked(
    const Descriptor* d) const {
  if (auto it = plans_.find(d); it != plans_.end()) return it->second.get();
  // Registered before its fields are planned: a recursive type finds it.
  std::vector<FieldPlan>* plan =
      plans_.emplace(d, std::make_unique<std::vector<FieldPlan>>()).first->second.get();
  std::vector<FieldPlan> fields;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    Shape shape = Shape::kScalar;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const std::string& type = f->message_type()->full_name();
      shape = type == "google.protobuf.Timestamp" ? Shape::kTimestamp
              : type == "google.protobuf.Any"     ? Shape::kAny
                                                  : Shape::kMessage;
    }
    const pv1::Action action = ActionFor(f);
    // Scalars and times kept as they are need no visit; kept messages do
    // (their fields are judged, and fields their type does not know are
    // cleared).
    if (action == pv1::KEEP && (shape == Shape::kScalar || shape == Shape::kTimestamp)) {
      continue;
    }
    FieldPlan fp{f, action, shape, nullptr};
    if (shape == Shape::kMessage && action != pv1::DROP) {
      fp.sub = BuildPlanLocked(f->message_type());
    }
    fields.push_back(fp);
  }
  *plan = std::move(fields);
  return plan;
}

const Message* Deidentifier::PrototypeOf(const std::string& type_url) {
  // Generated prototypes live as long as the process: one cache per thread,
  // shared by every guard, no lock.
  thread_local absl::flat_hash_map<std::string, const Message*> prototypes;
  if (auto it = prototypes.find(type_url); it != prototypes.end()) return it->second;
  const Descriptor* d = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
      type_url.substr(type_url.rfind('/') + 1));
  const Message* prototype =
      d == nullptr ? nullptr
                   : google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
  prototypes.emplace(type_url, prototype);
  return prototype;
}

absl::Status Deidentifier::Apply(const Subject& subject, Message* message) const {
  // Fields this binary's schema does not know (a newer writer's) would
  // otherwise be written back out untouched.
  Context context{.subject = subject};
  // The shift costs a keyed hash: only for a policy that shifts dates.
  if (shifts_dates_) context.shift_days = DateShiftDays(subject.id);
  if (subject.as_of != absl::InfinitePast()) {
    context.as_of_day = absl::ToCivilDay(subject.as_of, Region());
  }
  return ApplyPlan(context, PlanFor(message->GetDescriptor()), message);
}

absl::Status Deidentifier::ApplyPlan(const Context& context,
                                     const std::vector<FieldPlan>& fields,
                                     Message* message) const {
  // Fields this binary's schema does not know (a newer writer's) would
  // otherwise be written back out untouched.
  const Reflection* r = message->GetReflection();
  if (!r->GetUnknownFields(*message).empty()) r->MutableUnknownFields(message)->Clear();
  for (const FieldPlan& plan : fields) {
    MERIDIAN_RETURN_IF_ERROR(ApplyField(context, plan, r, message));
  }
  return absl::OkStatus();
}

absl::Status Deidentifier::ApplyField(const Context& context, const FieldPlan& plan,
                                      const Reflection* r, Message* message) const {
  const int shift_days = context.shift_days;
  const FieldDescriptor* f = plan.field;
  if (plan.action == pv1::DROP) {  // no need to look first
    r->ClearField(message, f);
    return absl::OkStatus();
  }
  const bool repeated = f->is_repeated();
  const int n = repeated ? r->FieldSize(*message, f) : (r->HasField(*message, f) ? 1 : 0);
  if (n == 0) return absl::OkStatus();
  auto mutable_message = [&](int i) {
    return repeated ? r->MutableRepeatedMessage(message, f, i) : r->MutableMessage(message, f);
  };
  switch (plan.shape) {
    case Shape::kMessage:
      // Any action but DROP judges the contained fields one by one.
      for (int i = 0; i < n; ++i) {
        MERIDIAN_RETURN_IF_ERROR(ApplyPlan(context, *plan.sub, mutable_message(i)));
      }
      return absl::OkStatus();
    case Shape::kAny:
      for (int i = 0; i < n; ++i) {
        auto* any = static_cast<google::protobuf::Any*>(mutable_message(i));
        const Message* prototype = PrototypeOf(any->type_url());
        if (prototype == nullptr) {  // nothing known about it: it does not leave
          r->ClearField(message, f);
          return absl::OkStatus();
        }
        std::unique_ptr<Message> inner(prototype->New());
        if (!inner->ParseFromString(any->value())) {
          return absl::InvalidArgumentError(
              absl::StrCat("payload does not parse as ", prototype->GetTypeName()));
        }
        MERIDIAN_RETURN_IF_ERROR(ApplyPlan(context, PlanFor(inner->GetDescriptor()), inner.get()));
        any->set_value(inner->SerializeAsString());
      }
      return absl::OkStatus();
    case Shape::kTimestamp:
      if (plan.action == pv1::KEEP) return absl::OkStatus();
      if (!IsDateAction(plan.action)) break;
      for (int i = 0; i < n; ++i) {
        auto* ts = static_cast<google::protobuf::Timestamp*>(mutable_message(i));
        const absl::Time t = absl::FromUnixSeconds(ts->seconds());
        if (plan.action == pv1::SHIFT_DATE) {
          ts->set_seconds(ts->seconds() + int64_t{shift_days} * 86400);
          continue;
        }
        const absl::CivilDay day = Moved(absl::ToCivilDay(t, Region()), plan.action, 0);
        ts->set_seconds(absl::ToUnixSeconds(absl::FromCivil(day, Region())));
        ts->set_nanos(0);
      }
      return absl::OkStatus();
    case Shape::kScalar:
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) break;
      for (int i = 0; i < n; ++i) {
        std::string scratch;
        const std::string& v = repeated ? r->GetRepeatedStringReference(*message, f, i, &scratch)
                                        : r->GetStringReference(*message, f, &scratch);
        std::optional<std::string> out;
        switch (plan.action) {
          case pv1::PSEUDONYMIZE:
            out = v.empty() ? v : Pseudonym(v);
            break;
          case pv1::SHIFT_DATE:
          case pv1::COARSEN_WEEK:
          case pv1::COARSEN_MONTH:
            if (auto day = fields::ParseDate(v)) {
              out = absl::FormatCivilTime(Moved(*day, plan.action, shift_days));
            }
            break;
          case pv1::AGE_BAND:
            if (auto day = fields::ParseDate(v); day && context.as_of_day) {
              out = AgeBand(*day, *context.as_of_day, policy_.age_band_years());
            }
            break;
          case pv1::POSTCODE_PREFIX: {
            const size_t keep = static_cast<size_t>(policy_.postcode_prefix_digits());
            if (v.size() >= keep) out = v.substr(0, keep) + std::string(v.size() - keep, '0');
            break;
          }
          case pv1::SCRUB:
            out = Scrub(v, context.subject.names);
            break;
          default:
            break;
        }
        if (!out) {  // the action does not fit this value: it does not leave
          r->ClearField(message, f);
          return absl::OkStatus();
        }
        if (repeated) {
          r->SetRepeatedString(message, f, i, *std::move(out));
        } else {
          r->SetString(message, f, *std::move(out));
        }
      }
      return absl::OkStatus();
  }
  r->ClearField(message, f);  // an action that does not apply to this type
  return absl::OkStatus();
}

}  // namespace meridian::deid
