// records: wiring only (libs/service). Its own setting: BATCH_SIZE (5000
// valid bulk items per transaction).
#include "libs/service/service_main.h"
#include "services/records/pg_record_store.h"
#include "services/records/records.h"
#include "services/records/records_service.h"

int main(int argc, char** argv) {
  using namespace meridian;
  return service::Main(
      argc, argv,
      {.name = records::kServiceName,
       .schema = "records",
       .topic = records::kRecordsTopic,
       .max_message_bytes = records::kMaxMessageBytes,
       .migrations = records::AllMigrations()},
      [](service::Context& c) -> absl::StatusOr<service::Parts> {
        records::RecordsOptions options;
        options.batch_size = static_cast<int>(c.cfg.Int("BATCH_SIZE", 5000, 1, 20000));
        service::Parts parts;
        auto* store = parts.Keep(std::make_unique<records::PgRecordStore>(&c.pool));
        auto* logic = parts.Keep(std::make_unique<records::Records>(
            store, c.xrefs, c.consent, &c.directory, options));
        parts.service = parts.Keep(std::make_unique<records::RecordsService>(logic, &c.directory));
        return parts;
      });
}
