// google.protobuf.Timestamp <-> absl::Time, to the microsecond (the
// precision PostgreSQL keeps), and the validity check every API applies to
// timestamps it receives before converting them.
#ifndef MERIDIAN_LIBS_TIMESTAMPS_TIMESTAMPS_H_
#define MERIDIAN_LIBS_TIMESTAMPS_TIMESTAMPS_H_

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace meridian::timestamps {

// Within 0001-01-01 and 9999-12-31, nanos in [0, 1e9): what the protobuf
// well-known type allows, and what FromProto converts without overflow.
bool IsValid(const google::protobuf::Timestamp& t);
// The same bounds for an absl::Time (ToProto of anything else fails a CHECK).
bool IsValid(absl::Time t);

absl::Time FromProto(const google::protobuf::Timestamp& t);
google::protobuf::Timestamp ToProto(absl::Time t);

}  // namespace meridian::timestamps

#endif  // MERIDIAN_LIBS_TIMESTAMPS_TIMESTAMPS_H_
