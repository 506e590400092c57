-- Bulk appends store up to 1000 events in one row (an OutboxBatch in
-- `envelope`, `events` > 1; topic, key, type and event ID then describe the
-- first event). Fewer rows to insert, index and delete per event. Batches
-- are stored uncompressed out of line: compressing them costs more CPU than
-- it saves.
ALTER TABLE outbox ADD COLUMN events integer NOT NULL DEFAULT 1;
ALTER TABLE outbox ALTER COLUMN envelope SET STORAGE EXTERNAL;
