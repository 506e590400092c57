// prescriptions: wiring only (libs/service). Its own settings: FORMULARY_DIR
// (default services/prescriptions/data), DEFAULT_VALIDITY_DAYS (3).
// Prescriptions whose validity ended are marked EXPIRED on every health
// tick.
#include "libs/service/service_main.h"
#include "services/prescriptions/formulary.h"
#include "services/prescriptions/pg_prescription_store.h"
#include "services/prescriptions/prescriptions.h"
#include "services/prescriptions/prescriptions_service.h"

int main(int argc, char** argv) {
  using namespace meridian;
  return service::Main(
      argc, argv,
      {.name = prescriptions::kServiceName,
       .schema = "prescriptions",
       .topic = prescriptions::kPrescriptionsTopic,
       .max_message_bytes = prescriptions::kMaxMessageBytes,
       .migrations = prescriptions::AllMigrations()},
      [](service::Context& c) -> absl::StatusOr<service::Parts> {
        absl::StatusOr<prescriptions::Formulary> formulary = prescriptions::Formulary::LoadDir(
            c.cfg.String("FORMULARY_DIR", "services/prescriptions/data"));
        if (!formulary.ok()) return formulary.status();
        prescriptions::PrescriptionsOptions options;
        options.default_validity_days = static_cast<int>(
            c.cfg.Int("DEFAULT_VALIDITY_DAYS", 3, 1, prescriptions::kMaxValidityDays));
        service::Parts parts;
        auto* f = parts.Keep(
            std::make_unique<prescriptions::Formulary>(*std::move(formulary)));
        auto* store = parts.Keep(std::make_unique<prescriptions::PgPrescriptionStore>(&c.pool));
        auto* logic = parts.Keep(std::make_unique<prescriptions::Prescriptions>(
            store, c.xrefs, c.consent, &c.directory, f, options));
        parts.service = parts.Keep(
            std::make_unique<prescriptions::PrescriptionsService>(logic, &c.directory));
        parts.periodic.push_back([logic] { return logic->ExpireDue().status(); });
        return parts;
      });
}
