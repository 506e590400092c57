// The health checks and gauges every database-backed service registers on
// its chassis, in one call:
//
//   server::AddStandardChecks(srv, pool, brokers, &relay);
//
// Health checks: "postgres" (a SELECT 1 through the pool) and, when brokers
// are given, "kafka" (a metadata request). Gauges, refreshed every health
// tick: meridian_pg_pool_connections{state="open"|"in_use"|"max"},
// meridian_outbox_pending_events and meridian_outbox_oldest_pending_seconds
// (when a relay is given).
#ifndef MERIDIAN_LIBS_SERVER_STANDARD_H_
#define MERIDIAN_LIBS_SERVER_STANDARD_H_

#include <string>

#include "libs/outbox/relay.h"
#include "libs/pg/pool.h"
#include "libs/server/server.h"

namespace meridian::server {

void AddStandardChecks(Server& server, pg::Pool& pool,
                       const std::string& kafka_brokers,
                       outbox::Relay* relay);

}  // namespace meridian::server

#endif  // MERIDIAN_LIBS_SERVER_STANDARD_H_
