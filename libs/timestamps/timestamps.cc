#include "libs/timestamps/timestamps.h"

#include "google/protobuf/util/time_util.h"

namespace meridian::timestamps {

using google::protobuf::util::TimeUtil;

bool IsValid(const google::protobuf::Timestamp& t) {
  return t.seconds() >= -62135596800LL && t.seconds() <= 253402300799LL && t.nanos() >= 0 &&
         t.nanos() < 1000000000;
}

bool IsValid(absl::Time t) {
  return t >= absl::FromUnixSeconds(-62135596800LL) &&
         t < absl::FromUnixSeconds(253402300800LL);
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

}  // namespace meridian::timestamps
