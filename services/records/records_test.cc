// The records logic over the in-memory stores.
#include "services/records/records.h"

#include <set>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/audit/audit.h"
#include "libs/consent/testing.h"
#include "libs/ids/uuid.h"
#include "libs/status/status_matchers.h"
#include "services/records/in_memory_record_store.h"
#include "services/records/test_util.h"

namespace meridian::records {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Item;

using consent::testing::FakeChecker;

class RecordsTest : public ::testing::Test {
 protected:
  // Links `org`/`local` to `regional` at time `seconds`.
  void Link(const std::string& org, const std::string& local, const std::string& regional,
            int seconds = 1) {
    ASSERT_OK(xrefs_.Apply("test", ids::NewUuid(),
                           {{{org, local}, regional, absl::FromUnixSeconds(seconds)}}));
  }

  v1::PushResult Push(const std::string& org, const v1::RecordItem& item) {
    absl::StatusOr<v1::PushResult> r = records_.Push(org, item);
    EXPECT_OK(r);
    return r.ok() ? *r : v1::PushResult();
  }

  v1::GetPatientRecordResponse Read(const std::string& org, const std::string& regional,
                                    v1::GetPatientRecordRequest request = {}) {
    request.set_regional_id(regional);
    auto r = records_.GetPatientRecord({org, orgs::Role::kCare}, request);
    EXPECT_OK(r);
    return r.ok() ? *r : v1::GetPatientRecordResponse();
  }

  std::vector<std::string> EventTypes() {
    std::vector<std::string> out;
    for (const auto& e : store_.events()) out.push_back(e.envelope.type());
    return out;
  }

  static std::vector<std::string> LocalIds(const v1::GetPatientRecordResponse& r) {
    std::vector<std::string> out;
    for (const auto& e : r.entries()) {
      out.push_back(e.has_encounter() ? e.encounter().local_id()
                    : e.has_document() ? e.document().local_id()
                                       : e.referral().local_id());
    }
    return out;
  }

  audit::v1::AccessRecorded LastAudit() {
    audit::v1::AccessRecorded a;
    auto events = store_.events();
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->topic == audit::kAuditTopic) {
        EXPECT_TRUE(it->envelope.payload().UnpackTo(&a));
        break;
      }
    }
    return a;
  }

  const std::string patient_ = ids::NewUuid();
  orgs::Directory directory_ = testing::Directory();
  InMemoryRecordStore store_;
  xref::InMemoryXrefStore xrefs_;
  FakeChecker consent_;
  Records records_{&store_, &xrefs_, &consent_, &directory_,
                   RecordsOptions{.batch_size = 3, .clock = [] { return testing::kNow; }}};
};

TEST_F(RecordsTest, PushIsIdempotentAndAChangeMakesANewVersionKeepingTheOld) {
  Link("city-hosp-1", "P-1", patient_);
  v1::Encounter e = testing::Encounter("E-1", "P-1");
  v1::PushResult first = Push("city-hosp-1", Item(e));
  EXPECT_EQ(first.outcome(), v1::CREATED);
  EXPECT_EQ(first.version(), 1);
  v1::PushResult again = Push("city-hosp-1", Item(e));
  EXPECT_EQ(again.outcome(), v1::UNCHANGED);
  EXPECT_EQ(again.version(), 1);
  e.mutable_diagnoses(1)->set_icd10_code("I11.9");
  v1::PushResult changed = Push("city-hosp-1", Item(e));
  EXPECT_EQ(changed.outcome(), v1::UPDATED);
  EXPECT_EQ(changed.version(), 2);
  EXPECT_THAT(EventTypes(), ElementsAre("encounter.recorded", "encounter.updated"));

  // The event names the institution and patient, carries the regional ID.
  auto events = store_.events();
  EXPECT_EQ(events[1].topic, kRecordsTopic);
  EXPECT_EQ(events[1].envelope.key(), "city-hosp-1/P-1");
  EXPECT_EQ(events[1].envelope.regional_patient_id(), patient_);
  v1::EncounterRecorded payload;
  ASSERT_TRUE(events[1].envelope.payload().UnpackTo(&payload));
  EXPECT_EQ(payload.version(), 2);
  EXPECT_EQ(payload.encounter().diagnoses(1).icd10_code(), "I11.9");

  v1::GetRecordHistoryRequest h;
  h.set_category(v1::ENCOUNTERS);
  h.set_local_id("E-1");
  auto history = records_.GetRecordHistory("city-hosp-1", h);
  ASSERT_OK(history);
  ASSERT_EQ(history->versions_size(), 2);
  EXPECT_EQ(history->versions(0).encounter().diagnoses(1).icd10_code(), "I10");
  EXPECT_EQ(history->versions(1).version(), 2);
  // Another institution cannot read that history.
  EXPECT_THAT(records_.GetRecordHistory("county-hosp-east", h).status(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(RecordsTest, EventsCarryTheRecordAndDocumentsOnlyTheirMetadata) {
  Push("city-hosp-1", Item(testing::Document("D-1", "P-1")));
  Push("thc-riverside", Item(testing::Referral("R-1", "T-1", "city-hosp-1")));
  auto events = store_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].envelope.type(), "document.filed");
  EXPECT_EQ(events[0].envelope.regional_patient_id(), "");  // not linked yet
  EXPECT_EQ(events[0].envelope.source_organisation(), "city-hosp-1");
  v1::DocumentFiled filed;
  ASSERT_TRUE(events[0].envelope.payload().UnpackTo(&filed));
  EXPECT_EQ(filed.organisation_id(), "city-hosp-1");
  EXPECT_EQ(filed.version(), 1);
  EXPECT_EQ(filed.document().title(), "Chest CT");
  EXPECT_EQ(filed.document().text(), "");
  v1::ReferralChanged referral;
  ASSERT_TRUE(events[1].envelope.payload().UnpackTo(&referral));
  EXPECT_EQ(referral.referral().to_organisation_id(), "city-hosp-1");
  EXPECT_EQ(referral.referral().status(), v1::REQUESTED);
  EXPECT_EQ(events[1].envelope.key(), "thc-riverside/T-1");
}

TEST_F(RecordsTest, EnteredInErrorIsATombstoneNotADelete) {
  Link("city-hosp-1", "P-1", patient_);
  v1::Encounter e = testing::Encounter("E-1", "P-1");
  Push("city-hosp-1", Item(e));
  Push("city-hosp-1", Item(testing::Encounter("E-2", "P-1", 3)));
  e.set_entered_in_error(true);
  EXPECT_EQ(Push("city-hosp-1", Item(e)).outcome(), v1::UPDATED);
  EXPECT_THAT(LocalIds(Read("city-hosp-1", patient_)), ElementsAre("E-2"));
  v1::GetRecordHistoryRequest h;
  h.set_category(v1::ENCOUNTERS);
  h.set_local_id("E-1");
  EXPECT_EQ(records_.GetRecordHistory("city-hosp-1", h)->versions_size(), 2);
}

TEST_F(RecordsTest, BulkReportsEachItemAndStoresOnlyTheValidOnes) {
  Link("city-hosp-1", "P-1", patient_);
  v1::Encounter bad = testing::Encounter("E-bad", "P-1");
  bad.mutable_diagnoses(0)->set_icd10_code("nope");
  v1::Encounter e2 = testing::Encounter("E-2", "P-1");
  v1::Encounter e2b = e2;
  e2b.set_department("Cardiology");
  std::vector<v1::RecordItem> items = {
      Item(testing::Encounter("E-1", "P-1")), Item(bad), v1::RecordItem(), Item(e2),
      Item(testing::Document("D-1", "P-1")), Item(e2b),
      Item(testing::Referral("R-1", "P-1", "county-hosp-east"))};
  auto results = records_.PushMany("city-hosp-1", items, 100);
  ASSERT_EQ(results.size(), items.size());
  for (size_t i = 0; i < results.size(); ++i) EXPECT_EQ(results[i].index(), 100 + int(i));
  EXPECT_EQ(results[0].result().outcome(), v1::CREATED);
  EXPECT_EQ(results[1].code(), int(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(results[1].error(), HasSubstr("encounter.diagnoses[0].icd10_code"));
  EXPECT_EQ(results[2].code(), int(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(results[3].result().outcome(), v1::CREATED);
  // The same record twice in one stream: the second is a new version.
  EXPECT_EQ(results[5].result().outcome(), v1::UPDATED);
  EXPECT_EQ(results[5].result().version(), 2);
  EXPECT_EQ(results[6].result().outcome(), v1::CREATED);
  EXPECT_THAT(LocalIds(Read("city-hosp-1", patient_)),
              ElementsAre("R-1", "D-1", "E-2", "E-1"));
}

TEST_F(RecordsTest, ADatabaseOutageFailsTheBatchAndLosesNothingAccepted) {
  Link("city-hosp-1", "P-1", patient_);
  Push("city-hosp-1", Item(testing::Encounter("E-1", "P-1")));
  store_.FailWith(absl::UnavailableError("postgres: connection refused"));
  auto results = records_.PushMany(
      "city-hosp-1", {Item(testing::Encounter("E-2", "P-1")), Item(testing::Encounter("E-3", "P-1"))});
  for (const auto& r : results) EXPECT_EQ(r.code(), int(absl::StatusCode::kUnavailable));
  EXPECT_THAT(records_.Push("city-hosp-1", Item(testing::Encounter("E-4", "P-1"))).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  store_.FailWith(absl::OkStatus());
  EXPECT_THAT(LocalIds(Read("city-hosp-1", patient_)), ElementsAre("E-1"));
  // The client retries: accepted now, exactly once.
  results = records_.PushMany(
      "city-hosp-1", {Item(testing::Encounter("E-2", "P-1")), Item(testing::Encounter("E-2", "P-1"))});
  EXPECT_EQ(results[0].result().outcome(), v1::CREATED);
  EXPECT_EQ(results[1].result().outcome(), v1::UNCHANGED);
}

TEST_F(RecordsTest, OwnInstitutionOnlySharesNothingOfOthers) {
  consent::OwnInstitutionOnly own_only;
  Records records(&store_, &xrefs_, &own_only, &directory_,
                  RecordsOptions{.clock = [] { return testing::kNow; }});
  Link("city-hosp-1", "MRN-9", patient_);
  Link("thc-riverside", "T-1", patient_);
  ASSERT_OK(records.Push("city-hosp-1", Item(testing::Encounter("E-1", "MRN-9"))));
  ASSERT_OK(records.Push("thc-riverside", Item(testing::Encounter("TE-1", "T-1"))));
  ASSERT_OK(records.Push("thc-riverside", Item(testing::Document("TD-1", "T-1"))));
  v1::GetPatientRecordRequest req;
  req.set_regional_id(patient_);
  auto r = records.GetPatientRecord({"city-hosp-1", orgs::Role::kCare}, req);
  ASSERT_OK(r);
  EXPECT_THAT(LocalIds(*r), ElementsAre("E-1"));
  ASSERT_EQ(r->withheld_size(), 3);
  EXPECT_THAT(r->withheld(0).reason(), HasSubstr("only your own institution"));
  r = records.GetPatientRecord({"thc-riverside", orgs::Role::kCare}, req);
  ASSERT_OK(r);
  EXPECT_THAT(LocalIds(*r), ElementsAre("TD-1", "TE-1"));
}

TEST_F(RecordsTest, ConsentDecidesPerCategoryWithObligationsAndEveryReadIsAudited) {
  Link("city-hosp-1", "MRN-9", patient_);
  Link("thc-riverside", "T-1", patient_);
  Push("city-hosp-1", Item(testing::Document("D-own", "MRN-9", 1)));
  Push("thc-riverside", Item(testing::Encounter("TE-1", "T-1", 5)));
  Push("thc-riverside", Item(testing::Document("TD-1", "T-1", 4)));
  consent_.decisions[consent::v1::RECORDS] = {.effect = consent::v1::PERMIT,
                                              .decided_by = "directive:1"};
  consent_.decisions[consent::v1::DOCUMENTS] = {
      .effect = consent::v1::PERMIT, .decided_by = "directive:2",
      .obligations = {consent::v1::WITHHOLD_DOCUMENT_TEXT}};
  auto r = Read("city-hosp-1", patient_);
  EXPECT_THAT(LocalIds(r), ElementsAre("D-own", "TD-1", "TE-1"));
  EXPECT_THAT(r.withheld(), IsEmpty());
  EXPECT_FALSE(r.entries(0).document().text().empty());  // own text kept
  EXPECT_TRUE(r.entries(1).document().text().empty());   // obligation
  EXPECT_EQ(r.entries(1).document().title(), "Chest CT");
  // One decision per consent category, with the caller and purpose.
  ASSERT_EQ(consent_.requests.size(), 2u);
  EXPECT_EQ(consent_.requests[0].accessor.organisation_id, "city-hosp-1");
  EXPECT_EQ(consent_.requests[0].purpose, consent::v1::TREATMENT);
  EXPECT_EQ(consent_.requests[0].regional_id, patient_);

  audit::v1::AccessRecorded a = LastAudit();
  EXPECT_EQ(a.accessor_organisation(), "city-hosp-1");
  EXPECT_EQ(a.regional_id(), patient_);
  EXPECT_EQ(a.items_returned(), 3);
  EXPECT_THAT(a.disclosed_organisations(), ElementsAre("city-hosp-1", "thc-riverside"));
  ASSERT_EQ(a.decisions_size(), 2);
  EXPECT_EQ(a.decisions(0).effect(), consent::v1::PERMIT);

  // Documents denied: encounters still shared, documents of others withheld.
  consent_.decisions.erase(consent::v1::DOCUMENTS);
  r = Read("city-hosp-1", patient_);
  EXPECT_THAT(LocalIds(r), ElementsAre("D-own", "TE-1"));
  ASSERT_EQ(r.withheld_size(), 1);
  EXPECT_EQ(r.withheld(0).category(), v1::DOCUMENTS);
  EXPECT_EQ(LastAudit().decisions(1).effect(), consent::v1::DENY);
}

TEST_F(RecordsTest, AnUnreachableConsentServiceFailsTheReadClosed) {
  Link("city-hosp-1", "MRN-9", patient_);
  Push("city-hosp-1", Item(testing::Encounter("E-1", "MRN-9")));
  consent_.fail_with = absl::UnavailableError("consent: deadline exceeded");
  const size_t events_before = store_.events().size();
  v1::GetPatientRecordRequest req;
  req.set_regional_id(patient_);
  EXPECT_THAT(records_.GetPatientRecord({"city-hosp-1", orgs::Role::kCare}, req).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(store_.events().size(), events_before);
}

TEST_F(RecordsTest, MergesAndUnmergesShowUpWithoutRewritingRecords) {
  const std::string other = ids::NewUuid();
  Link("city-hosp-1", "MRN-9", patient_, 1);
  Link("thc-riverside", "T-1", other, 1);
  Push("city-hosp-1", Item(testing::Encounter("E-1", "MRN-9")));
  Push("thc-riverside", Item(testing::Encounter("TE-1", "T-1")));
  consent_.decisions[consent::v1::RECORDS] = {.effect = consent::v1::PERMIT};
  EXPECT_THAT(LocalIds(Read("city-hosp-1", patient_)), ElementsAre("E-1"));
  Link("thc-riverside", "T-1", patient_, 10);  // merged
  EXPECT_THAT(LocalIds(Read("city-hosp-1", patient_)), ElementsAre("TE-1", "E-1"));
  Link("thc-riverside", "T-1", other, 20);  // unmerged
  EXPECT_THAT(LocalIds(Read("city-hosp-1", patient_)), ElementsAre("E-1"));
  EXPECT_THAT(LocalIds(Read("city-hosp-1", other)), ElementsAre("TE-1"));
}

TEST_F(RecordsTest, PagesCoverEverythingOnceAndFiltersApply) {
  Link("city-hosp-1", "MRN-9", patient_);
  for (int i = 0; i < 7; ++i) {
    Push("city-hosp-1", Item(testing::Encounter(absl::StrCat("E-", i), "MRN-9", 10 + i)));
  }
  Push("city-hosp-1", Item(testing::Document("D-1", "MRN-9", 12)));
  v1::GetPatientRecordRequest req;
  req.set_page_size(3);
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto r = Read("city-hosp-1", patient_, req);
    for (const auto& id : LocalIds(r)) seen.push_back(id);
    if (r.next_page_token().empty()) break;
    req.set_page_token(r.next_page_token());
  }
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 8u);

  v1::GetPatientRecordRequest only_docs;
  only_docs.add_categories(v1::DOCUMENTS);
  EXPECT_THAT(LocalIds(Read("city-hosp-1", patient_, only_docs)), ElementsAre("D-1"));
  v1::GetPatientRecordRequest window;
  *window.mutable_from() = testing::At(testing::kNow - absl::Hours(24 * 12));
  *window.mutable_to() = testing::At(testing::kNow - absl::Hours(24 * 10) + absl::Seconds(1));
  window.add_categories(v1::ENCOUNTERS);
  EXPECT_THAT(LocalIds(Read("city-hosp-1", patient_, window)),
              ElementsAre("E-0", "E-1", "E-2"));
}

TEST_F(RecordsTest, BadReadRequestsNameTheField) {
  Link("city-hosp-1", "MRN-9", patient_);
  consent::Accessor me{"city-hosp-1", orgs::Role::kCare, "req-42"};
  v1::GetPatientRecordRequest req;
  req.set_regional_id("110101199003077777");
  EXPECT_THAT(records_.GetPatientRecord(me, req).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("regional_id")));
  req.set_regional_id(ids::NewUuid());
  EXPECT_THAT(records_.GetPatientRecord(me, req).status(),
              StatusIs(absl::StatusCode::kNotFound));
  req.set_regional_id(patient_);
  // A well-formed token with a time PostgreSQL cannot hold.
  req.set_page_token(absl::WebSafeBase64Escape("1:9223372036854775807:1:city-hosp-1:E-1"));
  EXPECT_THAT(records_.GetPatientRecord(me, req).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  req.set_page_token("garbage!");
  EXPECT_THAT(records_.GetPatientRecord(me, req).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  req.clear_page_token();
  req.set_page_size(501);
  EXPECT_THAT(records_.GetPatientRecord(me, req).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  req.set_page_size(0);
  req.set_purpose(consent::v1::EMERGENCY);
  EXPECT_THAT(records_.GetPatientRecord(me, req).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("break_glass_reason")));
  req.set_break_glass_reason("unconscious on arrival");
  EXPECT_OK(records_.GetPatientRecord(me, req));
  EXPECT_EQ(LastAudit().break_glass_reason(), "unconscious on arrival");
  EXPECT_EQ(LastAudit().request_id(), "req-42");
  EXPECT_EQ(consent_.requests.back().accessor.request_id, "req-42");
  req.add_categories(static_cast<v1::RecordCategory>(42));
  EXPECT_THAT(records_.GetPatientRecord(me, req).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("categories")));
}

TEST_F(RecordsTest, ReferralsFlowBetweenInstitutions) {
  Link("thc-riverside", "T-1", patient_);
  v1::Referral up = testing::Referral("R-1", "T-1", "county-hosp-east");
  EXPECT_EQ(Push("thc-riverside", Item(up)).outcome(), v1::CREATED);
  // The receiving hospital sees the referral addressed to it, even though
  // nothing else of the centre's is shared with it.
  auto r = Read("county-hosp-east", patient_);
  ASSERT_THAT(LocalIds(r), ElementsAre("R-1"));
  EXPECT_EQ(r.entries(0).referral().status(), v1::REQUESTED);

  v1::UpdateReferralStatusRequest accept;
  accept.set_from_organisation_id("thc-riverside");
  accept.set_local_id("R-1");
  accept.set_status(v1::ACCEPTED);
  auto accepted = records_.UpdateReferralStatus("county-hosp-east", accept);
  ASSERT_OK(accepted);
  EXPECT_EQ(accepted->version(), 2);
  EXPECT_EQ(records_.UpdateReferralStatus("county-hosp-east", accept)->outcome(),
            v1::UNCHANGED);  // a retry
  // Nobody else may move it, nor learn that it exists.
  EXPECT_THAT(records_.UpdateReferralStatus("city-hosp-1", accept).status(),
              StatusIs(absl::StatusCode::kNotFound));
  // The referrer re-pushes a correction: the status stays the receiver's.
  up.set_reason("Poorly controlled diabetes and hypertension");
  EXPECT_EQ(Push("thc-riverside", Item(up)).version(), 3);
  r = Read("thc-riverside", patient_);
  EXPECT_EQ(r.entries(0).referral().status(), v1::ACCEPTED);
  EXPECT_EQ(r.entries(0).referral().reason(), up.reason());

  v1::UpdateReferralStatusRequest complete = accept;
  complete.set_status(v1::COMPLETED);
  complete.set_note("Discharged back to the centre with a new regimen");
  ASSERT_OK(records_.UpdateReferralStatus("county-hosp-east", complete));
  v1::UpdateReferralStatusRequest back = accept;
  EXPECT_THAT(records_.UpdateReferralStatus("county-hosp-east", back).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("COMPLETED")));
  back.set_status(v1::REQUESTED);
  EXPECT_THAT(records_.UpdateReferralStatus("county-hosp-east", back).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("status")));
  EXPECT_THAT(EventTypes(), ElementsAre("referral.changed", "access.recorded",
                                        "referral.changed", "referral.changed",
                                        "access.recorded", "referral.changed"));
}

}  // namespace
}  // namespace meridian::records
