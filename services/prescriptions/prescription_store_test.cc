// One contract for both PrescriptionStores; the PostgreSQL one runs against
// the real server (MERIDIAN_PG_URI).
#include <atomic>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/ids/uuid.h"
#include "libs/pg/testing.h"
#include "libs/status/status_matchers.h"
#include "libs/timestamps/timestamps.h"
#include "meridian/prescriptions/v1/events.pb.h"
#include "services/prescriptions/in_memory_prescription_store.h"
#include "services/prescriptions/pg_prescription_store.h"

namespace meridian::prescriptions {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

enum class StoreKind { kInMemory, kPostgres };

absl::Time Day(int day) { return absl::FromUnixSeconds(1'700'000'000 + day * 86400); }

// Issued on `day` for 10 days of therapy, valid for 30.
StoredPrescription Rx(const std::string& org, const std::string& local,
                      const std::string& patient, int day,
                      v1::PrescriptionStatus status = v1::ISSUED) {
  StoredPrescription s;
  v1::Prescription& p = s.prescription;
  p.set_prescription_id(ids::NewUuid());
  p.set_organisation_id(org);
  p.set_local_id(local);
  p.set_patient_local_id(patient);
  p.set_status(status);
  *p.mutable_issued_at() = timestamps::ToProto(Day(day));
  *p.mutable_expires_at() = timestamps::ToProto(Day(day + 30));
  p.add_diagnosis_icd10("J18.9");
  v1::PrescriptionItem* item = p.add_items();
  item->set_drug_code("J01CA04-C500");
  item->set_days(10);
  item->set_quantity(50);
  s.verification_code = "483920";
  s.request_hash = "hash-" + local;
  s.active_until = Day(day + 10);
  return s;
}

outbox::PendingEvent Event(const std::string& type) {
  return {"meridian.prescriptions.v1",
          *outbox::NewEnvelope({.topic = "meridian.prescriptions.v1",
                                .type = type,
                                .key = "h1/P-1",
                                .source_organisation = "h1",
                                .regional_patient_id = "",
                                .producer = "prescriptions"},
                               v1::PrescriptionChanged())};
}

std::vector<std::string> Locals(const std::vector<StoredPrescription>& rxs) {
  std::vector<std::string> out;
  for (const auto& rx : rxs) out.push_back(rx.prescription.local_id());
  return out;
}

void ExpectSame(const StoredPrescription& got, const StoredPrescription& want, int64_t version) {
  EXPECT_EQ(got.prescription.DebugString(), want.prescription.DebugString());
  EXPECT_EQ(got.verification_code, want.verification_code);
  EXPECT_EQ(got.request_hash, want.request_hash);
  EXPECT_EQ(got.active_until, want.active_until);
  EXPECT_EQ(got.version, version);
}

class PrescriptionStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreKind::kInMemory) {
      auto store = std::make_unique<InMemoryPrescriptionStore>();
      memory_ = store.get();
      store_ = std::move(store);
      return;
    }
    schema_ = std::make_unique<pg::testing::ScratchSchema>("prescriptions");
    ASSERT_OK(pg::Migrate(schema_->pool(), schema_->name(), AllMigrations()));
    store_ = std::make_unique<PgPrescriptionStore>(&schema_->pool());
  }

  // The types of the events appended so far, in order.
  std::vector<std::string> EventTypes() {
    std::vector<std::string> out;
    if (memory_ != nullptr) {
      for (const auto& e : memory_->events()) out.push_back(e.envelope.type());
      return out;
    }
    // Fewer than 8 events per append: one outbox row each.
    pqxx::result r = *schema_->pool().Transact(
        [](pqxx::work& tx) { return tx.exec("SELECT event_type FROM outbox ORDER BY id"); });
    for (const auto& row : r) out.push_back(row[0].as<std::string>());
    return out;
  }

  // Inserts with one "prescription.issued" event.
  StoredPrescription Insert(StoredPrescription rx) {
    auto r = store_->Insert(rx, {Event("prescription.issued")});
    EXPECT_OK(r);
    EXPECT_TRUE(r.ok() && r->inserted);
    return rx;
  }

  std::unique_ptr<pg::testing::ScratchSchema> schema_;
  std::unique_ptr<PrescriptionStore> store_;
  InMemoryPrescriptionStore* memory_ = nullptr;
};

TEST_P(PrescriptionStoreTest, InsertThenGetAndFind) {
  const StoredPrescription rx = Rx("h1", "RX-1", "P-1", 1);
  auto inserted = store_->Insert(rx, {Event("prescription.issued")});
  ASSERT_OK(inserted);
  EXPECT_TRUE(inserted->inserted);
  ExpectSame(inserted->stored, rx, 1);

  auto got = store_->Get(rx.prescription.prescription_id());
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  ExpectSame(**got, rx, 1);
  auto found = store_->FindByLocal("h1", "RX-1");
  ASSERT_OK(found);
  ASSERT_TRUE(found->has_value());
  ExpectSame(**found, rx, 1);

  EXPECT_FALSE(store_->Get(ids::NewUuid())->has_value());
  EXPECT_FALSE(store_->Get("not-a-uuid")->has_value());
  EXPECT_FALSE(store_->FindByLocal("h2", "RX-1")->has_value());
  EXPECT_THAT(EventTypes(), ElementsAre("prescription.issued"));
}

TEST_P(PrescriptionStoreTest, InsertingTheSameLocalIdAgainReturnsTheFirst) {
  const StoredPrescription first = Insert(Rx("h1", "RX-1", "P-1", 1));
  StoredPrescription again = Rx("h1", "RX-1", "P-1", 2);  // a new ID, another hash
  auto r = store_->Insert(again, {Event("prescription.issued")});
  ASSERT_OK(r);
  EXPECT_FALSE(r->inserted);
  ExpectSame(r->stored, first, 1);
  EXPECT_FALSE(store_->Get(again.prescription.prescription_id())->has_value());
  EXPECT_THAT(EventTypes(), ElementsAre("prescription.issued"));
}

TEST_P(PrescriptionStoreTest, TakenPrescriptionIdIsAlreadyExists) {
  const StoredPrescription first = Insert(Rx("h1", "RX-1", "P-1", 1));
  StoredPrescription clash = Rx("h2", "RX-9", "Q-7", 1);
  clash.prescription.set_prescription_id(first.prescription.prescription_id());
  EXPECT_THAT(store_->Insert(clash, {Event("prescription.issued")}).status(),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_FALSE(store_->FindByLocal("h2", "RX-9")->has_value());
  ExpectSame(**store_->Get(first.prescription.prescription_id()), first, 1);
  EXPECT_THAT(EventTypes(), ElementsAre("prescription.issued"));
}

TEST_P(PrescriptionStoreTest, UpdateWritesOnlyChangesWithTheirEvents) {
  StoredPrescription want = Insert(Rx("h1", "RX-1", "P-1", 1));
  const std::string id = want.prescription.prescription_id();

  // A change: stored with its events, version + 1.
  auto updated = store_->Update(id, [](StoredPrescription& rx, auto* events) {
    rx.prescription.set_status(v1::VERIFIED);
    rx.prescription.mutable_verification()->set_pharmacist("ph-7");
    events->push_back(Event("prescription.verified"));
    return absl::OkStatus();
  });
  ASSERT_OK(updated);
  want.prescription.set_status(v1::VERIFIED);
  want.prescription.mutable_verification()->set_pharmacist("ph-7");
  ExpectSame(*updated, want, 2);
  ExpectSame(**store_->Get(id), want, 2);
  // Fields outside the message count as changes too.
  updated = store_->Update(id, [](StoredPrescription& rx, auto*) {
    rx.active_until += absl::Hours(1);
    return absl::OkStatus();
  });
  ASSERT_OK(updated);
  want.active_until += absl::Hours(1);
  ExpectSame(**store_->Get(id), want, 3);
  EXPECT_THAT(EventTypes(), ElementsAre("prescription.issued", "prescription.verified"));

  // No change: the row is not written; the events (an audited read) are.
  updated = store_->Update(id, [](StoredPrescription& rx, auto* events) {
    rx.prescription.set_status(v1::VERIFIED);
    events->push_back(Event("access.recorded"));
    return absl::OkStatus();
  });
  ASSERT_OK(updated);
  ExpectSame(*updated, want, 3);
  EXPECT_THAT(EventTypes(), ElementsAre("prescription.issued", "prescription.verified",
                                        "access.recorded"));
  // An error: nothing written.
  EXPECT_THAT(store_->Update(id, [](StoredPrescription& rx, auto* events) {
                rx.prescription.set_status(v1::CANCELLED);
                events->push_back(Event("prescription.cancelled"));
                return absl::FailedPreconditionError("nothing left to cancel");
              }).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // The key is not the mutation's to change.
  EXPECT_THAT(store_->Update(id, [](StoredPrescription& rx, auto*) {
                rx.prescription.set_local_id("RX-2");
                return absl::OkStatus();
              }).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ExpectSame(**store_->Get(id), want, 3);
  EXPECT_THAT(EventTypes(), ElementsAre("prescription.issued", "prescription.verified",
                                        "access.recorded"));
}

TEST_P(PrescriptionStoreTest, UpdateOfAnUnknownIdIsNotFound) {
  bool called = false;
  const Mutation mutate = [&](StoredPrescription&, auto*) {
    called = true;
    return absl::OkStatus();
  };
  EXPECT_THAT(store_->Update(ids::NewUuid(), mutate).status(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Update("not-a-uuid", mutate).status(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(called);
}

TEST_P(PrescriptionStoreTest, QueryFiltersOrdersPagesAndAudits) {
  // The patient is P-1 at h1 and Q-7 at h2.
  Insert(Rx("h1", "A", "P-1", 1));
  Insert(Rx("h1", "B", "P-1", 3, v1::DISPENSED));  // therapy still running
  StoredPrescription h = Rx("h1", "H", "P-1", 3);  // issued with B: ID order
  Insert(h);
  const StoredPrescription c = Insert(Rx("h2", "C", "Q-7", 2));
  Insert(Rx("h2", "D", "Q-7", 4, v1::EXPIRED));
  StoredPrescription e = Rx("h2", "E", "Q-7", 5, v1::VERIFIED);
  e.active_until = Day(6);  // therapy ended
  Insert(e);
  StoredPrescription j = Rx("h2", "J", "Q-7", 0, v1::PARTIALLY_DISPENSED);
  j.active_until = Day(20);
  Insert(j);
  Insert(Rx("h1", "F", "P-2", 6));                  // another patient
  Insert(Rx("h3", "G", "P-1", 7));                  // not this patient at h3
  // Cancelled through Update: the status column follows the message.
  ASSERT_OK(store_->Update(c.prescription.prescription_id(), [](StoredPrescription& rx, auto*) {
    rx.prescription.set_status(v1::CANCELLED);
    return absl::OkStatus();
  }));
  const bool b_first = (*store_->FindByLocal("h1", "B"))->prescription.prescription_id() >
                       h.prescription.prescription_id();
  const std::string b1 = b_first ? "B" : "H", b2 = b_first ? "H" : "B";

  int audits = 0;
  std::vector<std::string> audited;
  auto audit = [&](const std::vector<StoredPrescription>& returned)
      -> absl::StatusOr<outbox::PendingEvent> {
    ++audits;
    audited = Locals(returned);
    return Event("access.recorded");
  };
  PatientQuery q;
  q.patients = {{"h1", "P-1"}, {"h2", "Q-7"}};
  q.caller_organisation = "h1";

  auto got = store_->Query(q, audit);
  ASSERT_OK(got);
  EXPECT_THAT(Locals(*got), ElementsAre("E", "D", b1, b2, "C", "A", "J"));
  EXPECT_EQ(audits, 1);
  EXPECT_EQ(audited, Locals(*got));
  EXPECT_EQ(EventTypes().back(), "access.recorded");
  // The caller's own only.
  q.include_other_institutions = false;
  EXPECT_THAT(Locals(*store_->Query(q, audit)), ElementsAre(b1, b2, "A"));
  // Active on day 8: not cancelled, therapy not ended (expired ones are
  // kept: the logic judges whether anything of them was dispensed).
  q.include_other_institutions = true;
  q.active_at = Day(8);
  EXPECT_THAT(Locals(*store_->Query(q, audit)), ElementsAre("D", b1, b2, "A", "J"));
  q.include_other_institutions = false;
  EXPECT_THAT(Locals(*store_->Query(q, audit)), ElementsAre(b1, b2, "A"));
  // Everything in pages of two.
  q.include_other_institutions = true;
  q.active_at.reset();
  q.limit = 2;
  std::vector<std::string> pages;
  for (int page = 0; page < 5; ++page) {
    got = store_->Query(q, audit);
    ASSERT_OK(got);
    pages.push_back(absl::StrJoin(Locals(*got), ","));
    if (got->empty()) break;
    const v1::Prescription& last = got->back().prescription;
    q.after = Cursor{timestamps::FromProto(last.issued_at()), last.prescription_id()};
  }
  EXPECT_THAT(pages, ElementsAre("E,D", absl::StrCat(b1, ",", b2), "C,A", "J", ""));
  EXPECT_EQ(audits, 9);
  EXPECT_THAT(*store_->Query(PatientQuery{}, nullptr), IsEmpty());
  EXPECT_EQ(audits, 9);

  // A failing audit fails the read.
  q.after.reset();
  EXPECT_THAT(store_->Query(q, [](const auto&) -> absl::StatusOr<outbox::PendingEvent> {
                return absl::InternalError("audit down");
              }).status(),
              StatusIs(absl::StatusCode::kInternal));
}

TEST_P(PrescriptionStoreTest, DueToExpireOldestFirstOpenOnly) {
  auto insert = [&](const std::string& local, v1::PrescriptionStatus status, int expires_day) {
    StoredPrescription rx = Rx("h1", local, "P-1", 0, status);
    *rx.prescription.mutable_expires_at() = timestamps::ToProto(Day(expires_day));
    return Insert(rx).prescription.prescription_id();
  };
  const std::string x = insert("X", v1::ISSUED, 10);
  const std::string y = insert("Y", v1::VERIFIED, 5);
  const std::string z = insert("Z", v1::PARTIALLY_DISPENSED, 7);
  insert("W", v1::DISPENSED, 3);
  insert("V", v1::CANCELLED, 2);
  insert("U", v1::EXPIRED, 1);
  insert("T", v1::ISSUED, 20);
  EXPECT_THAT(*store_->DueToExpire(Day(10), 100), ElementsAre(y, z, x));
  EXPECT_THAT(*store_->DueToExpire(Day(10), 2), ElementsAre(y, z));
  EXPECT_THAT(*store_->DueToExpire(Day(4), 100), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Stores, PrescriptionStoreTest,
                         ::testing::Values(StoreKind::kInMemory, StoreKind::kPostgres),
                         [](const auto& info) {
                           return info.param == StoreKind::kInMemory ? "InMemory" : "Postgres";
                         });

TEST(InMemoryPrescriptionStoreTest, FailWithFailsEveryCall) {
  InMemoryPrescriptionStore store;
  store.FailWith(absl::UnavailableError("database down"));
  const StoredPrescription rx = Rx("h1", "RX-1", "P-1", 1);
  const auto unavailable = StatusIs(absl::StatusCode::kUnavailable);
  EXPECT_THAT(store.Insert(rx, {}), unavailable);
  EXPECT_THAT(store.Get(rx.prescription.prescription_id()), unavailable);
  EXPECT_THAT(store.FindByLocal("h1", "RX-1"), unavailable);
  EXPECT_THAT(store.Update(rx.prescription.prescription_id(), nullptr), unavailable);
  EXPECT_THAT(store.Query(PatientQuery{}, nullptr), unavailable);
  EXPECT_THAT(store.DueToExpire(Day(1), 1), unavailable);
}

// Two pharmacies dispensing one unit at a time, 8 at once: the row lock
// serialises each read-modify-write, so exactly the prescribed quantity is
// dispensed and every dispensing is one version.
TEST(PgPrescriptionStoreTest, ConcurrentDispensingsNeverExceedTheQuantity) {
  constexpr int kThreads = 8, kAttempts = 100, kQuantity = 50;
  pg::testing::ScratchSchema schema("prescriptions", kThreads);
  ASSERT_OK(pg::Migrate(schema.pool(), schema.name(), AllMigrations()));
  PgPrescriptionStore store(&schema.pool());
  StoredPrescription rx = Rx("h1", "RX-hot", "P-1", 1);
  rx.prescription.mutable_items(0)->set_quantity(kQuantity);
  ASSERT_OK(store.Insert(rx, {}));
  const std::string id = rx.prescription.prescription_id();

  std::atomic<int> attempts{0}, dispensed{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string pharmacy = t % 2 == 0 ? "pharmacy-a" : "pharmacy-b";
      for (int n = attempts++; n < kAttempts; n = attempts++) {
        auto r = store.Update(id, [&](StoredPrescription& s, auto* events) {
          v1::PrescriptionItem* item = s.prescription.mutable_items(0);
          if (item->dispensed_quantity() >= item->quantity()) {
            return absl::FailedPreconditionError("nothing left to dispense");
          }
          item->set_dispensed_quantity(item->dispensed_quantity() + 1);
          v1::Dispensing* d = s.prescription.add_dispensings();
          d->set_pharmacy_id(pharmacy);
          d->set_local_id(absl::StrCat("D-", n));
          v1::DispensedItem* di = d->add_items();
          di->set_item_index(0);
          di->set_quantity(1);
          s.prescription.set_status(item->dispensed_quantity() < item->quantity()
                                        ? v1::PARTIALLY_DISPENSED
                                        : v1::DISPENSED);
          events->push_back(Event("prescription.dispensed"));
          return absl::OkStatus();
        });
        if (r.ok()) {
          ++dispensed;
        } else if (absl::IsFailedPrecondition(r.status())) {
          ++refused;
        } else {
          ADD_FAILURE() << r.status();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(dispensed.load(), kQuantity);
  EXPECT_EQ(refused.load(), kAttempts - kQuantity);

  auto got = store.Get(id);
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  const v1::Prescription& p = (*got)->prescription;
  EXPECT_EQ(p.items(0).dispensed_quantity(), kQuantity);
  EXPECT_EQ(p.dispensings_size(), kQuantity);
  EXPECT_EQ(p.status(), v1::DISPENSED);
  EXPECT_EQ((*got)->version, kQuantity + 1);
  auto events = schema.pool().Transact([](pqxx::work& tx) {
    return tx.exec1("SELECT coalesce(sum(events), 0) FROM outbox"
                    " WHERE event_type = 'prescription.dispensed'")[0].as<int64_t>();
  });
  ASSERT_OK(events);
  EXPECT_EQ(*events, kQuantity);
}

}  // namespace
}  // namespace meridian::prescriptions
