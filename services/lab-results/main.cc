// lab-results: wiring only (libs/service). Its own setting: REFERENCE_DIR
// (default services/lab-results/data).
#include "libs/service/service_main.h"
#include "services/lab-results/labs.h"
#include "services/lab-results/labs_service.h"
#include "services/lab-results/pg_lab_store.h"

int main(int argc, char** argv) {
  using namespace meridian;
  return service::Main(
      argc, argv,
      {.name = labs::kServiceName,
       .schema = "lab_results",
       .topic = labs::kLabsTopic,
       .max_message_bytes = labs::kMaxMessageBytes,
       .migrations = labs::AllMigrations()},
      [](service::Context& c) -> absl::StatusOr<service::Parts> {
        absl::StatusOr<labs::ReferenceTable> table = labs::ReferenceTable::LoadDir(
            c.cfg.String("REFERENCE_DIR", "services/lab-results/data"));
        if (!table.ok()) return table.status();
        service::Parts parts;
        auto* t = parts.Keep(std::make_unique<labs::ReferenceTable>(*std::move(table)));
        auto* store = parts.Keep(std::make_unique<labs::PgLabStore>(&c.pool));
        auto* logic = parts.Keep(
            std::make_unique<labs::Labs>(store, c.xrefs, c.consent, &c.directory, t));
        parts.service = parts.Keep(std::make_unique<labs::LabsService>(logic, &c.directory));
        return parts;
      });
}
