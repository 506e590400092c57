#include "libs/audit/audit.h"

#include "gtest/gtest.h"
#include "libs/ids/uuid.h"
#include "libs/status/status_matchers.h"

namespace meridian::audit {
namespace {

using ::meridian::testing::StatusIs;

TEST(AccessEventTest, WrapsTheAccessKeyedByPatient) {
  v1::AccessRecorded a;
  a.set_service("records");
  a.set_operation("GetPatientRecord");
  a.set_accessor_organisation("city-hosp-1");
  a.set_regional_id(ids::NewUuid());
  a.set_purpose(consent::v1::TREATMENT);
  absl::StatusOr<outbox::PendingEvent> e = AccessEvent(a);
  ASSERT_OK(e);
  EXPECT_EQ(e->topic, kAuditTopic);
  EXPECT_EQ(e->envelope.type(), kAccessRecorded);
  EXPECT_EQ(e->envelope.key(), a.regional_id());
  EXPECT_EQ(e->envelope.source_organisation(), "city-hosp-1");
  EXPECT_EQ(e->envelope.producer(), "records");
  EXPECT_TRUE(ids::IsUuid(e->envelope.event_id()));
  v1::AccessRecorded back;
  ASSERT_TRUE(e->envelope.payload().UnpackTo(&back));
  EXPECT_EQ(back.operation(), "GetPatientRecord");
}

TEST(AccessEventTest, RefusesAnAnonymousAccess) {
  v1::AccessRecorded a;
  a.set_service("records");
  a.set_regional_id(ids::NewUuid());
  EXPECT_THAT(AccessEvent(a).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace meridian::audit
