-- Blocking keys move into the service's memory (key_index.h): the
-- blocking_hash table cost each registration about a dozen index entries
-- written (heap and btree, with their WAL) and a dozen index descents read,
-- a third of PostgreSQL's work per registration at 1,000,000 patients
-- (BENCHMARKS.md). Each replica loads every record's keys at start and then
-- catches up on what was committed since the snapshot it last saw: the
-- records whose change_xid was in progress in that snapshot or came after it.
--
-- change_xid is the transaction that last wrote the record (its insert or
-- its latest update). Records written before this migration keep NULL: a
-- replica reads them in its start-up load, and a catch-up never asks for
-- them, so the index leaves them out.
ALTER TABLE source_record ADD COLUMN change_xid xid8;
ALTER TABLE source_record ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX source_record_change_xid ON source_record (change_xid)
  WHERE change_xid IS NOT NULL;

DROP TABLE blocking_hash;
