// The privacy guard: the one door from clinical data to analytics. Applies a
// policy (data: meridian.privacy.v1.Policy, one per purpose) to every field
// of a message by the class and kind its schema gives it
// (proto/meridian/privacy/v1/privacy.proto), walking the message by
// reflection:
//
//   auto guard = *deid::Deidentifier::Create(policy, {{"k2", secret}});
//   absl::Status s = guard->Apply({.id = regional_id, .as_of = event_time,
//                                  .names = {"张三"}}, &event);
//
// Fail closed: a field without a class, or whose class and kind no rule
// matches, is cleared. google.protobuf.Any payloads are unpacked,
// de-identified and packed again (an unknown payload type is cleared).
#ifndef MERIDIAN_LIBS_DEID_DEID_H_
#define MERIDIAN_LIBS_DEID_DEID_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "meridian/privacy/v1/policy.pb.h"

namespace meridian::deid {

namespace pv1 = ::meridian::privacy::v1;

// A pseudonym key: its ID goes with every pseudonym, so keys can rotate.
struct Key {
  std::string id;      // 1-16 of [A-Za-z0-9_-]
  std::string secret;  // at least 32 bytes
};

// Who the data is about.
struct Subject {
  // Derives the subject's date shift (e.g. the regional patient ID).
  std::string id;
  // The time of the event: age bands are computed at it; unknown (infinite
  // past) drops birth dates instead.
  absl::Time as_of = absl::InfinitePast();
  // The person's own names, scrubbed from free text.
  std::vector<std::string> names;
};

// Free text without resident IDs, phone numbers and `names` (replaced by
// "[ID]", "[PHONE]", "[NAME]").
std::string Scrub(absl::string_view text, const std::vector<std::string>& names);

// Pseudonym keys from `path`: one "<key id> <secret in hex>" per line, the
// active key first ('#' lines ignored). The file is a secret (a Kubernetes
// Secret, or tools/meridian certs locally).
absl::StatusOr<std::vector<Key>> LoadKeys(const std::string& path);

// The policy in `path` (protobuf text format), validated.
absl::StatusOr<pv1::Policy> LoadPolicy(const std::string& path);

class Deidentifier {
 public:
  // `keys[0]` is the active key. INVALID_ARGUMENT for a policy out of
  // bounds or a missing or weak key.
  static absl::StatusOr<std::unique_ptr<Deidentifier>> Create(pv1::Policy policy,
                                                              std::vector<Key> keys);

  // Applies the policy to `message` in place, recursively.
  absl::Status Apply(const Subject& subject, google::protobuf::Message* message) const;

  // "<key id>:<32 hex digits>" — HMAC-SHA-256 of `value` under the active
  // key, truncated to 128 bits.
  std::string Pseudonym(absl::string_view value) const;
  // The subject's date shift in days, in [-max, +max] of the policy.
  int DateShiftDays(absl::string_view subject_id) const;

  const pv1::Policy& policy() const { return policy_; }

  ~Deidentifier();

 private:
  enum class Shape { kScalar, kMessage, kTimestamp, kAny };
  struct FieldPlan {
    const google::protobuf::FieldDescriptor* field;
    pv1::Action action;
    Shape shape;
    // kMessage fields not dropped: the plan of the message type.
    const std::vector<FieldPlan>* sub;
  };

  struct HmacState;
  // What one Apply call works with.
  struct Context {
    const Subject& subject;
    int shift_days = 0;
    std::optional<absl::CivilDay> as_of_day;  // the event's day, for age bands
  };

  Deidentifier(pv1::Policy policy, std::vector<Key> keys);

  pv1::Action ActionFor(const google::protobuf::FieldDescriptor* field) const;
  // The generated prototype of an Any's type, or nullptr when unknown.
  static const google::protobuf::Message* PrototypeOf(const std::string& type_url);
  const std::vector<FieldPlan>& PlanFor(const google::protobuf::Descriptor* d) const;
  const std::vector<FieldPlan>* BuildPlanLocked(const google::protobuf::Descriptor* d) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyPlan(const Context& context, const std::vector<FieldPlan>& fields,
                         google::protobuf::Message* message) const;
  // `r` is `message`'s reflection (looked up once per message).
  absl::Status ApplyField(const Context& context, const FieldPlan& plan,
                          const google::protobuf::Reflection* r,
                          google::protobuf::Message* message) const;

  const uint64_t generation_;  // distinguishes guards in per-thread caches
  const pv1::Policy policy_;
  const std::vector<Key> keys_;
  const std::unique_ptr<HmacState> hmac_;  // of the active key
  bool shifts_dates_ = false;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<const google::protobuf::Descriptor*,
                              std::unique_ptr<std::vector<FieldPlan>>>
      plans_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::deid

#endif  // MERIDIAN_LIBS_DEID_DEID_H_
