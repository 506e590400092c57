#include "libs/deid/deid.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/civil_time.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/timestamp.pb.h"
#include "libs/config/config.h"
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

// SHA-256 contexts that have absorbed the key's inner and outer pads:
// HMAC(m) = H(opad-state || H(ipad-state || m)). Copying a context per call
// costs far less than keying a fresh HMAC (OpenSSL 3 fetches the
// algorithm for every one-shot HMAC()).
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

}  // namespace

struct Deidentifier::HmacState {
  MdCtx inner, outer;

  explicit HmacState(const std::string& secret) : inner(EVP_MD_CTX_new()), outer(EVP_MD_CTX_new()) {
    unsigned char block[64] = {0};
    if (secret.size() > sizeof(block)) {
      unsigned int n = 0;
      EVP_Digest(secret.data(), secret.size(), block, &n, EVP_sha256(), nullptr);
    } else {
      std::memcpy(block, secret.data(), secret.size());
    }
    unsigned char ipad[64], opad[64];
    for (int i = 0; i < 64; ++i) {
      ipad[i] = block[i] ^ 0x36;
      opad[i] = block[i] ^ 0x5c;
    }
    EVP_DigestInit_ex(inner.get(), EVP_sha256(), nullptr);
    EVP_DigestUpdate(inner.get(), ipad, sizeof(ipad));
    EVP_DigestInit_ex(outer.get(), EVP_sha256(), nullptr);
    EVP_DigestUpdate(outer.get(), opad, sizeof(opad));
    OPENSSL_cleanse(block, sizeof(block));
  }

  std::string Mac(absl::string_view data) const {
    thread_local MdCtx scratch(EVP_MD_CTX_new());
    unsigned char inner_hash[EVP_MAX_MD_SIZE], out[EVP_MAX_MD_SIZE];
    unsigned int n = 0, m = 0;
    EVP_MD_CTX_copy_ex(scratch.get(), inner.get());
    EVP_DigestUpdate(scratch.get(), data.data(), data.size());
    EVP_DigestFinal_ex(scratch.get(), inner_hash, &n);
    EVP_MD_CTX_copy_ex(scratch.get(), outer.get());
    EVP_DigestUpdate(scratch.get(), inner_hash, n);
    EVP_DigestFinal_ex(scratch.get(), out, &m);
    return std::string(reinterpret_cast<const char*>(out), m);
  }
};

namespace {

std::optional<absl::CivilDay> ParseDay(absl::string_view s) {
  absl::CivilDay day;
  if (s.size() != 10 || !absl::ParseCivilTime(s, &day) || absl::FormatCivilTime(day) != s) {
    return std::nullopt;
  }
  return day;
}

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
std::string AgeBand(absl::CivilDay birth, absl::Time as_of, int width) {
  const absl::CivilDay at = absl::ToCivilDay(as_of, Region());
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

}  // namespace

std::string Scrub(absl::string_view text, const std::vector<std::string>& names) {
  // Resident IDs (18 characters, the last a digit or X, or the old 15
  // digits; the character after is matched and put back), mobile numbers
  // with an optional +86, landlines.
  static const RE2* const kResidentId = new RE2(R"((\d{17}[\dXx]|\d{15})(\D|$))");
  static const RE2* const kMobile = new RE2(R"((?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4})");
  static const RE2* const kLandline = new RE2(R"(0\d{2,3}-\d{7,8})");
  std::string out(text);
  RE2::GlobalReplace(&out, *kResidentId, "[ID]\\2");
  RE2::GlobalReplace(&out, *kMobile, "[PHONE]");
  RE2::GlobalReplace(&out, *kLandline, "[PHONE]");
  for (const std::string& name : names) {
    const auto characters = std::count_if(name.begin(), name.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // UTF-8 lead bytes
    });
    if (characters < 2) continue;  // one character would erase too much
    absl::StrReplaceAll({{name, "[NAME]"}}, &out);
  }
  return out;
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
    if (!ValidKeyId(k.id)) return absl::InvalidArgumentError("keys: an ID is 1-16 of [A-Za-z0-9_-]");
    if (k.secret.size() < 32) return absl::InvalidArgumentError("keys: a secret is >= 32 bytes");
  }
  return std::unique_ptr<Deidentifier>(new Deidentifier(std::move(policy), std::move(keys)));
}

Deidentifier::Deidentifier(pv1::Policy policy, std::vector<Key> keys)
    : policy_(std::move(policy)),
      keys_(std::move(keys)),
      hmac_(std::make_unique<HmacState>(keys_[0].secret)) {
  for (const pv1::Rule& r : policy_.rules()) shifts_dates_ |= r.action() == pv1::SHIFT_DATE;
}

Deidentifier::~Deidentifier() = default;

std::string Deidentifier::Pseudonym(absl::string_view value) const {
  const std::string mac = hmac_->Mac(value);
  return absl::StrCat(keys_[0].id, ":", absl::BytesToHexString(mac.substr(0, 16)));
}

int Deidentifier::DateShiftDays(absl::string_view subject_id) const {
  const int max = policy_.max_date_shift_days();
  if (max <= 0) return 0;
  const std::string mac = hmac_->Mac(absl::StrCat("date-shift\n", subject_id));
  uint64_t v = 0;
  std::memcpy(&v, mac.data(), sizeof(v));
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
    if (r.data_class() == c && (r.kind() == pv1::KIND_UNSPECIFIED || r.kind() == k)) {
      return r.action();
    }
  }
  return pv1::DROP;
}

const std::vector<Deidentifier::FieldPlan>& Deidentifier::PlanFor(const Descriptor* d) const {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = plans_.find(d);
    if (it != plans_.end()) return *it->second;
  }
  auto plan = std::make_unique<std::vector<FieldPlan>>();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    Shape shape = Shape::kScalar;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const std::string& type = f->message_type()->full_name();
      shape = type == "google.protobuf.Timestamp" ? Shape::kTimestamp
              : type == "google.protobuf.Any"     ? Shape::kAny
                                                  : Shape::kMessage;
    }
    plan->push_back({f, ActionFor(f), shape});
  }
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = plans_.emplace(d, std::move(plan));
  return *it->second;
}

const Message* Deidentifier::PrototypeOf(const std::string& type_url) const {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = prototypes_.find(type_url);
    if (it != prototypes_.end()) return it->second;
  }
  const Descriptor* d = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
      type_url.substr(type_url.rfind('/') + 1));
  const Message* prototype =
      d == nullptr ? nullptr : google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
  absl::MutexLock lock(&mu_);
  prototypes_.emplace(type_url, prototype);
  return prototype;
}

absl::Status Deidentifier::Apply(const Subject& subject, Message* message) const {
  // The shift costs a keyed hash: only for a policy that shifts dates.
  return ApplyWithShift(subject, shifts_dates_ ? DateShiftDays(subject.id) : 0, message);
}

absl::Status Deidentifier::ApplyWithShift(const Subject& subject, int shift_days,
                                          Message* message) const {
  for (const FieldPlan& plan : PlanFor(message->GetDescriptor())) {
    MERIDIAN_RETURN_IF_ERROR(ApplyField(subject, plan, shift_days, message));
  }
  return absl::OkStatus();
}

absl::Status Deidentifier::ApplyField(const Subject& subject, const FieldPlan& plan,
                                      int shift_days, Message* message) const {
  const FieldDescriptor* f = plan.field;
  const Reflection* r = message->GetReflection();
  const bool repeated = f->is_repeated();
  const int n = repeated ? r->FieldSize(*message, f) : (r->HasField(*message, f) ? 1 : 0);
  if (n == 0 || (plan.action == pv1::KEEP && plan.shape == Shape::kScalar)) {
    return absl::OkStatus();
  }
  if (plan.action == pv1::DROP) {
    r->ClearField(message, f);
    return absl::OkStatus();
  }
  auto mutable_message = [&](int i) {
    return repeated ? r->MutableRepeatedMessage(message, f, i) : r->MutableMessage(message, f);
  };
  switch (plan.shape) {
    case Shape::kMessage:
      // Any action but DROP judges the contained fields one by one.
      for (int i = 0; i < n; ++i) {
        MERIDIAN_RETURN_IF_ERROR(ApplyWithShift(subject, shift_days, mutable_message(i)));
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
        MERIDIAN_RETURN_IF_ERROR(ApplyWithShift(subject, shift_days, inner.get()));
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
        std::string v = repeated ? r->GetRepeatedString(*message, f, i) : r->GetString(*message, f);
        std::optional<std::string> out;
        switch (plan.action) {
          case pv1::PSEUDONYMIZE:
            out = v.empty() ? v : Pseudonym(v);
            break;
          case pv1::SHIFT_DATE:
          case pv1::COARSEN_WEEK:
          case pv1::COARSEN_MONTH:
            if (auto day = ParseDay(v)) out = absl::FormatCivilTime(Moved(*day, plan.action, shift_days));
            break;
          case pv1::AGE_BAND:
            if (auto day = ParseDay(v); day && subject.as_of != absl::InfinitePast()) {
              out = AgeBand(*day, subject.as_of, policy_.age_band_years());
            }
            break;
          case pv1::POSTCODE_PREFIX: {
            const size_t keep = static_cast<size_t>(policy_.postcode_prefix_digits());
            if (v.size() >= keep) out = v.substr(0, keep) + std::string(v.size() - keep, '0');
            break;
          }
          case pv1::SCRUB:
            out = Scrub(v, subject.names);
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
