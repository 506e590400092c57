// The consent logic over the in-memory stores.
#include "services/consent/consent_registry.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "google/protobuf/util/time_util.h"
#include "libs/ids/uuid.h"
#include "libs/status/status_matchers.h"
#include "meridian/consent/v1/events.pb.h"

namespace meridian::consent {
namespace {

using ::meridian::testing::StatusIs;
using ::testing::HasSubstr;
using google::protobuf::util::TimeUtil;

const absl::Time kNow = absl::FromUnixSeconds(1780300800);

orgs::Directory TestDirectory() {
  return *orgs::Directory::FromText(R"pb(
    organisation { id: "city-hosp-1" name: "City" type: TERTIARY_HOSPITAL district_code: "330102" }
    organisation { id: "county-hosp-east" name: "County" type: SECONDARY_HOSPITAL district_code: "330110" }
    organisation { id: "thc-riverside" name: "Centre" type: TOWNSHIP_HEALTH_CENTRE district_code: "330110" }
    organisation { id: "pharm-central" name: "Pharmacy" type: PHARMACY district_code: "330102" }
    organisation { id: "patient-portal" name: "Portal" type: PATIENT_PORTAL district_code: "330100" }
    organisation { id: "svc-records" name: "records" type: PLATFORM_SERVICE district_code: "330100" }
  )pb");
}

class ConsentRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(xrefs_.Apply("t", ids::NewUuid(),
                           {{{"thc-riverside", "T-1"}, patient_, absl::FromUnixSeconds(1)},
                            {{"city-hosp-1", "MRN-1"}, patient_, absl::FromUnixSeconds(1)}}));
  }

  v1::GrantRequest Grant(v1::Effect effect) {
    v1::GrantRequest g;
    g.mutable_directive()->set_regional_id(patient_);
    g.mutable_directive()->set_effect(effect);
    g.mutable_directive()->mutable_recipients()->set_everyone(true);
    return g;
  }

  v1::CheckResponse Check(const std::string& org, v1::DataCategory c = v1::RECORDS,
                          v1::Purpose p = v1::TREATMENT, const std::string& reason = "") {
    v1::CheckRequest r;
    r.set_accessor_organisation(org);
    r.set_regional_id(patient_);
    r.set_category(c);
    r.set_purpose(p);
    r.set_break_glass_reason(reason);
    auto out = registry_.Check(r);
    EXPECT_OK(out);
    return out.ok() ? *out : v1::CheckResponse();
  }

  const Accessor portal_{"patient-portal", orgs::Role::kPatientPortal};
  const Accessor centre_{"thc-riverside", orgs::Role::kCare};
  const std::string patient_ = ids::NewUuid();
  orgs::Directory directory_ = TestDirectory();
  InMemoryConsentStore store_;
  xref::InMemoryXrefStore xrefs_;
  ConsentRegistry registry_{&store_, &xrefs_, &directory_, RegionalDefaults{},
                            [] { return kNow; }};
};

TEST_F(ConsentRegistryTest, AGrantDecidesUntilItIsRevoked) {
  EXPECT_EQ(Check("county-hosp-east").effect(), v1::PERMIT);  // default opt-out
  v1::GrantRequest g = Grant(v1::DENY);
  g.mutable_directive()->mutable_recipients()->mutable_organisations()->add_ids(
      "county-hosp-east");
  g.mutable_directive()->add_categories(v1::RECORDS);
  auto d = registry_.Grant(portal_, g);
  ASSERT_OK(d);
  EXPECT_TRUE(ids::IsUuid(d->directive_id()));
  EXPECT_EQ(d->recorded_by(), "patient-portal");
  v1::CheckResponse c = Check("county-hosp-east");
  EXPECT_EQ(c.effect(), v1::DENY);
  EXPECT_EQ(c.decided_by(), "directive:" + d->directive_id());
  EXPECT_EQ(Check("county-hosp-east", v1::LABS).effect(), v1::PERMIT);
  EXPECT_EQ(Check("city-hosp-1").effect(), v1::PERMIT);

  // Only the portal or the recorder may revoke; others cannot see it.
  v1::RevokeRequest r;
  r.set_directive_id(d->directive_id());
  r.set_reason("moved to another city");
  EXPECT_THAT(registry_.Revoke(centre_, r).status(), StatusIs(absl::StatusCode::kNotFound));
  auto revoked = registry_.Revoke(portal_, r);
  ASSERT_OK(revoked);
  EXPECT_TRUE(revoked->has_revoked_at());
  EXPECT_EQ(revoked->revoke_reason(), "moved to another city");
  EXPECT_EQ(Check("county-hosp-east").effect(), v1::PERMIT);
  std::vector<std::string> types;
  for (const auto& e : store_.events()) types.push_back(e.envelope.type());
  EXPECT_THAT(types, ::testing::ElementsAre("consent.granted", "consent.revoked"));
}

TEST_F(ConsentRegistryTest, InstitutionsGrantOnlyForTheirPatientsWithTheSignedForm) {
  v1::GrantRequest g = Grant(v1::PERMIT);
  EXPECT_THAT(registry_.Grant(centre_, g).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("form_reference")));
  g.mutable_directive()->set_form_reference("FORM-2026-0042");
  EXPECT_OK(registry_.Grant(centre_, g));
  EXPECT_THAT(registry_.Grant({"county-hosp-east", orgs::Role::kCare}, g).status(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("regional_id")));
  EXPECT_THAT(registry_.Grant({"pharm-central", orgs::Role::kPharmacy}, g).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // Idempotent on the request key.
  g.set_request_key("portal-req-1");
  auto a = registry_.Grant(portal_, g);
  auto b = registry_.Grant(portal_, g);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->directive_id(), b->directive_id());
}

TEST_F(ConsentRegistryTest, BadInputNamesTheFieldAndStoresNothing) {
  const size_t before = store_.events().size();
  v1::GrantRequest g = Grant(v1::PERMIT);
  g.mutable_directive()->set_regional_id(ids::NewUuid());
  EXPECT_THAT(registry_.Grant(portal_, g).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("regional_id")));
  g = Grant(v1::PERMIT);
  g.mutable_directive()->clear_recipients();
  EXPECT_THAT(registry_.Grant(portal_, g).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("directive.recipients")));
  g = Grant(v1::PERMIT);
  g.mutable_directive()->mutable_recipients()->mutable_organisations();
  EXPECT_THAT(registry_.Grant(portal_, g).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("organisations")));
  g = Grant(v1::PERMIT);
  *g.mutable_directive()->mutable_valid_from() = TimeUtil::SecondsToTimestamp(2000000000);
  *g.mutable_directive()->mutable_valid_until() = TimeUtil::SecondsToTimestamp(1900000000);
  EXPECT_THAT(registry_.Grant(portal_, g).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("directive.valid_until")));
  g = Grant(v1::EFFECT_UNSPECIFIED);
  EXPECT_THAT(registry_.Grant(portal_, g).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("directive.effect")));
  g = Grant(v1::PERMIT);
  g.mutable_directive()->add_purposes(v1::EMERGENCY);
  EXPECT_THAT(registry_.Grant(portal_, g).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("directive.purposes")));
  g = Grant(v1::PERMIT);
  g.mutable_directive()->mutable_recipients()->mutable_organisations()->add_ids("nowhere");
  EXPECT_THAT(registry_.Grant(portal_, g).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("directive.recipients.organisations.ids[0]")));
  EXPECT_EQ(store_.events().size(), before);
  v1::CheckRequest bad;
  bad.set_accessor_organisation("nowhere");
  EXPECT_THAT(registry_.Check(bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("accessor_organisation")));
}

TEST_F(ConsentRegistryTest, BreakTheGlassIsAllowedAndNotified) {
  v1::GrantRequest g = Grant(v1::DENY);
  ASSERT_OK(registry_.Grant(portal_, g));
  EXPECT_EQ(Check("county-hosp-east").effect(), v1::DENY);
  EXPECT_EQ(Check("county-hosp-east", v1::RECORDS, v1::EMERGENCY).effect(), v1::DENY);
  v1::CheckResponse c =
      Check("county-hosp-east", v1::RECORDS, v1::EMERGENCY, "unconscious, no relatives");
  EXPECT_EQ(c.effect(), v1::PERMIT);
  EXPECT_EQ(c.decided_by(), kBreakGlass);
  const auto events = store_.events();
  ASSERT_EQ(events.back().envelope.type(), "consent.break_glass");
  v1::BreakGlassUsed used;
  ASSERT_TRUE(events.back().envelope.payload().UnpackTo(&used));
  EXPECT_EQ(used.accessor_organisation(), "county-hosp-east");
  EXPECT_EQ(used.reason(), "unconscious, no relatives");
  EXPECT_EQ(events.back().envelope.regional_patient_id(), patient_);
}

TEST_F(ConsentRegistryTest, CheckAllDecidesEachCategoryInOrder) {
  v1::GrantRequest g = Grant(v1::DENY);
  g.mutable_directive()->add_categories(v1::DOCUMENTS);
  ASSERT_OK(registry_.Grant(portal_, g));
  v1::CheckAllRequest r;
  r.set_accessor_organisation("county-hosp-east");
  r.set_regional_id(patient_);
  r.add_categories(v1::RECORDS);
  r.add_categories(v1::DOCUMENTS);
  r.set_purpose(v1::TREATMENT);
  auto out = registry_.CheckAll(r);
  ASSERT_OK(out);
  ASSERT_EQ(out->decisions_size(), 2);
  EXPECT_EQ(out->decisions(0).effect(), v1::PERMIT);
  EXPECT_EQ(out->decisions(1).effect(), v1::DENY);
  r.add_categories(static_cast<v1::DataCategory>(99));
  EXPECT_THAT(registry_.CheckAll(r).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("categories[2]")));
  r.clear_categories();
  EXPECT_THAT(registry_.CheckAll(r).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("categories")));
  // Break-the-glass over two categories: two notifications.
  const size_t before = store_.events().size();
  r.add_categories(v1::RECORDS);
  r.add_categories(v1::DOCUMENTS);
  r.set_purpose(v1::EMERGENCY);
  r.set_break_glass_reason("cardiac arrest in the emergency room");
  out = registry_.CheckAll(r);
  ASSERT_OK(out);
  EXPECT_EQ(out->decisions(1).effect(), v1::PERMIT);
  EXPECT_EQ(store_.events().size(), before + 2);
}

TEST_F(ConsentRegistryTest, FhirConsentExamplesBecomeDirectives) {
  auto read = [](const std::string& name) {
    std::ifstream in(std::string(MERIDIAN_FHIR_EXAMPLES) + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  v1::ImportFhirConsentRequest basic;
  basic.set_resource_json(read("Consent-consent-example-basic.json"));
  basic.set_patient_local_id("T-1");
  auto a = registry_.ImportFhirConsent(centre_, basic);
  ASSERT_OK(a);
  EXPECT_EQ(a->regional_id(), patient_);
  EXPECT_EQ(a->form_reference(), "fhir:Consent/consent-example-basic");
  v1::ImportFhirConsentRequest not_org;
  not_org.set_resource_json(read("Consent-consent-example-notOrg.json"));
  not_org.set_patient_local_id("T-1");
  (*not_org.mutable_organisation_references())["Organization/f001"] = "county-hosp-east";
  auto b = registry_.ImportFhirConsent(centre_, not_org);
  ASSERT_OK(b);
  EXPECT_EQ(b->effect(), v1::DENY);
  // The deny names the county hospital: it applies now (no period).
  EXPECT_EQ(Check("county-hosp-east").effect(), v1::DENY);
  EXPECT_EQ(Check("city-hosp-1").effect(), v1::PERMIT);
  // Importing the same resource again changes nothing.
  auto again = registry_.ImportFhirConsent(centre_, not_org);
  ASSERT_OK(again);
  EXPECT_EQ(again->directive_id(), b->directive_id());
  not_org.set_patient_local_id("T-unknown");
  EXPECT_THAT(registry_.ImportFhirConsent(centre_, not_org).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("patient_local_id")));
}

}  // namespace
}  // namespace meridian::consent
