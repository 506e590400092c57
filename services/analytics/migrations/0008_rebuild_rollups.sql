-- Rollups added after counting began start empty: the service rebuilds them
-- from fact at its next start (PgAnalyticsStore::RunMaintenance) when a
-- migration asks for it here. A migration that adds a rollup inserts the
-- task again.
CREATE TABLE maintenance (task text PRIMARY KEY);
INSERT INTO maintenance VALUES ('rebuild_rollups');
