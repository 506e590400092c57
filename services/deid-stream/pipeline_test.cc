#include "services/deid-stream/pipeline.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/consent/testing.h"
#include "libs/ids/uuid.h"
#include "libs/kafka/in_memory.h"
#include "libs/outbox/outbox.h"
#include "libs/status/status_matchers.h"
#include "meridian/prescriptions/v1/events.pb.h"

namespace meridian::deidstream {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<privacy::v1::Policy> policy =
        deid::LoadPolicy(std::string(MERIDIAN_POLICY_DIR) + "/public_health.textproto");
    ASSERT_OK(policy);
    auto guard = deid::Deidentifier::Create(*policy, {{"k1", std::string(32, 'x')}});
    ASSERT_OK(guard);
    guard_ = *std::move(guard);
    pipeline_ = std::make_unique<Pipeline>(
        &xrefs_, &consent_, guard_.get(), &publisher_,
        PipelineOptions{.recipient = {"health-commission", orgs::Role::kAuthority, ""}});
  }

  // A prescription event as the prescriptions service writes it.
  kafka::ConsumedMessage Prescription(const std::string& regional,
                                      const std::string& patient = "MRN-777") {
    prescriptions::v1::PrescriptionChanged rx;
    rx.set_prescription_id(ids::NewUuid());
    rx.set_organisation_id("city-hosp-1");
    rx.set_patient_local_id(patient);
    rx.set_status(prescriptions::v1::ISSUED);
    auto* item = rx.add_items();
    item->set_atc_code("J01CA04");
    item->set_antibiotic(true);
    auto env = outbox::NewEnvelope({.topic = "meridian.prescriptions.v1",
                                    .type = "prescription.issued",
                                    .key = "city-hosp-1/" + patient,
                                    .source_organisation = "city-hosp-1",
                                    .regional_patient_id = regional,
                                    .producer = "prescriptions"},
                                   rx);
    EXPECT_OK(env);
    return {"meridian.prescriptions.v1", 0, 0, env->key(), env->SerializeAsString(), {}};
  }

  xref::InMemoryXrefStore xrefs_;
  consent::testing::FakeChecker consent_;
  kafka::InMemoryPublisher publisher_;
  std::unique_ptr<deid::Deidentifier> guard_;
  std::unique_ptr<Pipeline> pipeline_;
  const std::string regional_ = ids::NewUuid();
};

TEST_F(PipelineTest, PermittedEventsLeaveDeidentifiedAndKeyedByPseudonym) {
  consent_.Permit(consent::v1::PRESCRIPTIONS);
  ASSERT_OK(pipeline_->Handle(Prescription(regional_)));
  ASSERT_EQ(publisher_.published().size(), 1u);
  const kafka::Message out = publisher_.published()[0];
  EXPECT_EQ(out.topic, kDeidTopic);
  EXPECT_EQ(out.key, guard_->Pseudonym(regional_));
  EXPECT_THAT(out.value, Not(HasSubstr("MRN-777")));
  EXPECT_THAT(out.value, Not(HasSubstr(regional_)));
  events::v1::EventEnvelope env;
  ASSERT_TRUE(env.ParseFromString(out.value));
  EXPECT_EQ(env.type(), "prescription.issued");
  prescriptions::v1::PrescriptionChanged rx;
  ASSERT_TRUE(env.payload().UnpackTo(&rx));
  EXPECT_EQ(rx.patient_local_id(), guard_->Pseudonym("MRN-777"));
  EXPECT_EQ(rx.organisation_id(), "city-hosp-1");
  EXPECT_EQ(rx.items(0).atc_code(), "J01CA04");
  // Consent was asked for the recipient, the purpose and the category.
  EXPECT_EQ(consent_.requests.back().accessor.organisation_id, "health-commission");
  EXPECT_EQ(consent_.requests.back().purpose, consent::v1::PUBLIC_HEALTH);
  EXPECT_EQ(consent_.requests.back().category, consent::v1::PRESCRIPTIONS);
  EXPECT_EQ(pipeline_->forwarded(), 1);
}

TEST_F(PipelineTest, ThePatientIsFoundThroughTheLinksWhenTheEventDoesNotSay) {
  consent_.Permit(consent::v1::PRESCRIPTIONS);
  // A fresh event waits for the link (transient); one still unplaced
  // after the grace is dead-lettered rather than hold its partition.
  EXPECT_THAT(pipeline_->Handle(Prescription("")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("patient not known")));
  absl::Time now = absl::Now() + absl::Minutes(3);  // the event is old when first met
  Pipeline later(&xrefs_, &consent_, guard_.get(), &publisher_,
                 PipelineOptions{.recipient = {"health-commission", orgs::Role::kAuthority, ""},
                                 .clock = [&now] { return now; }});
  const kafka::ConsumedMessage late = Prescription("");
  // Late (a backlog after an outage): the grace runs from when it is met.
  EXPECT_THAT(later.Handle(late),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("patient not known")));
  now += absl::Minutes(1);
  EXPECT_THAT(later.Handle(late),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("patient not known")));
  now += absl::Minutes(1) + absl::Seconds(1);
  EXPECT_THAT(later.Handle(late),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("patient not known")));
  EXPECT_TRUE(publisher_.published().empty());
  ASSERT_OK(xrefs_.Apply("test", ids::NewUuid(),
                         {{{"city-hosp-1", "MRN-777"}, regional_, absl::FromUnixSeconds(1)}}));
  ASSERT_OK(pipeline_->Handle(Prescription("")));
  ASSERT_EQ(publisher_.published().size(), 1u);
  EXPECT_EQ(publisher_.published()[0].key, guard_->Pseudonym(regional_));
}

TEST_F(PipelineTest, RefusedConsentWithholdsAndFailuresAreRetried) {
  // The fake's default is DENY: nothing leaves, the message is done.
  ASSERT_OK(pipeline_->Handle(Prescription(regional_)));
  EXPECT_TRUE(publisher_.published().empty());
  EXPECT_EQ(pipeline_->withheld(), 1);
  // Consent unreachable, then the broker down: UNAVAILABLE (retried by the
  // consumer), nothing counted as forwarded.
  consent_.fail_with = absl::UnavailableError("consent down");
  EXPECT_THAT(pipeline_->Handle(Prescription(regional_)),
              StatusIs(absl::StatusCode::kUnavailable));
  consent_.fail_with = absl::OkStatus();
  consent_.Permit(consent::v1::PRESCRIPTIONS);
  publisher_.FailWith(absl::UnavailableError("broker down"));
  EXPECT_THAT(pipeline_->Handle(Prescription(regional_)),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(pipeline_->forwarded(), 0);
  // Garbage is not an event.
  publisher_.FailWith(absl::OkStatus());
  EXPECT_THAT(pipeline_->Handle({"meridian.records.v1", 0, 0, "k", "\xff\xfe garbage", {}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PayloadTypes, EveryTypeThePublishersWriteIsKnown) {
  // Each event type of the clinical topics unpacks here: otherwise the
  // guard drops its payload whole (fail closed) and analytics sees nothing.
  std::set<std::string> known;
  for (const auto* d : PayloadTypes()) {
    ASSERT_NE(google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
                  d->full_name()),
              nullptr);
    known.insert(d->full_name());
  }
  for (const char* type :
       {"meridian.labs.v1.ReportChanged", "meridian.prescriptions.v1.PrescriptionChanged",
        "meridian.records.v1.EncounterRecorded", "meridian.patient.v1.PatientLinked",
        "meridian.audit.v1.AccessRecorded"}) {
    EXPECT_TRUE(known.contains(type)) << type;
  }
}

TEST_F(PipelineTest, RedeliveryProducesTheSameEventIdForDownstreamDedupe) {
  consent_.Permit(consent::v1::PRESCRIPTIONS);
  const kafka::ConsumedMessage m = Prescription(regional_);
  ASSERT_OK(pipeline_->Handle(m));
  ASSERT_OK(pipeline_->Handle(m));  // at least once: a crash before the commit
  ASSERT_EQ(publisher_.published().size(), 2u);
  events::v1::EventEnvelope a, b;
  ASSERT_TRUE(a.ParseFromString(publisher_.published()[0].value));
  ASSERT_TRUE(b.ParseFromString(publisher_.published()[1].value));
  EXPECT_EQ(a.event_id(), b.event_id());
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());  // deterministic
}

TEST_F(PipelineTest, ABatchAsksConsentOncePerPatientAndPublishesTogether) {
  consent_.Permit(consent::v1::PRESCRIPTIONS);
  const std::string other = ids::NewUuid();
  std::vector<kafka::ConsumedMessage> batch = {
      Prescription(regional_), Prescription(other, "MRN-888"), Prescription(regional_),
      Prescription(regional_), Prescription(other, "MRN-888")};
  ASSERT_OK(pipeline_->HandleBatch(batch));
  EXPECT_EQ(publisher_.published().size(), 5u);
  EXPECT_EQ(pipeline_->forwarded(), 5);
  // Two patients, one category each: two decisions for five events.
  EXPECT_EQ(consent_.requests.size(), 2u);
  // In order, each de-identified exactly as one at a time would.
  for (size_t i = 0; i < batch.size(); ++i) {
    events::v1::EventEnvelope out, in;
    ASSERT_TRUE(out.ParseFromString(publisher_.published()[i].value));
    ASSERT_TRUE(in.ParseFromString(batch[i].value));
    EXPECT_EQ(out.event_id(), in.event_id());
  }
  const std::string batched = publisher_.published()[1].value;
  ASSERT_OK(pipeline_->Handle(batch[1]));
  EXPECT_EQ(publisher_.published().back().value, batched);

  // Refused: the whole batch is withheld, nothing leaves.
  consent_.decisions.clear();
  ASSERT_OK(pipeline_->HandleBatch(batch));
  EXPECT_EQ(publisher_.published().size(), 6u);
  EXPECT_EQ(pipeline_->withheld(), 5);
}

TEST_F(PipelineTest, ABatchLooksItsUnnamedPatientsUpAtOnce) {
  // Events that carry no regional ID: one cross-reference lookup for the
  // batch, not one per event.
  class CountingXrefs : public xref::InMemoryXrefStore {
   public:
    absl::StatusOr<std::vector<std::string>> RegionalIdsOf(
        const std::vector<xref::LocalId>& locals) override {
      ++lookups;
      return InMemoryXrefStore::RegionalIdsOf(locals);
    }
    int lookups = 0;
  } xrefs;
  const std::string other = ids::NewUuid();
  ASSERT_OK(xrefs.Apply("test", ids::NewUuid(),
                        {{{"city-hosp-1", "MRN-777"}, regional_, absl::FromUnixSeconds(1)}}));
  ASSERT_OK(xrefs.Apply("test", ids::NewUuid(),
                        {{{"city-hosp-1", "MRN-888"}, other, absl::FromUnixSeconds(1)}}));
  consent_.Permit(consent::v1::PRESCRIPTIONS);
  Pipeline pipeline(&xrefs, &consent_, guard_.get(), &publisher_,
                    PipelineOptions{.recipient = {"health-commission", orgs::Role::kAuthority, ""}});
  ASSERT_OK(pipeline.HandleBatch({Prescription(""), Prescription("", "MRN-888"),
                                  Prescription(regional_), Prescription("", "MRN-888")}));
  EXPECT_EQ(xrefs.lookups, 1);
  ASSERT_EQ(publisher_.published().size(), 4u);
  EXPECT_EQ(publisher_.published()[0].key, guard_->Pseudonym(regional_));
  EXPECT_EQ(publisher_.published()[1].key, guard_->Pseudonym(other));
  EXPECT_EQ(publisher_.published()[2].key, guard_->Pseudonym(regional_));
  EXPECT_EQ(publisher_.published()[3].key, guard_->Pseudonym(other));
}

TEST_F(PipelineTest, ABatchWithAnUnlinkedPatientFailsWholeAndPublishesNothing) {
  consent_.Permit(consent::v1::PRESCRIPTIONS);
  // The second event names no regional ID and its patient has no link yet.
  std::vector<kafka::ConsumedMessage> batch = {Prescription(regional_),
                                               Prescription("", "MRN-NOBODY")};
  EXPECT_THAT(pipeline_->HandleBatch(batch), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(publisher_.published().empty());
  EXPECT_EQ(pipeline_->forwarded(), 0);
  // One by one (what the consumer does next), the first goes through.
  ASSERT_OK(pipeline_->Handle(batch[0]));
  EXPECT_EQ(publisher_.published().size(), 1u);
}

}  // namespace
}  // namespace meridian::deidstream
