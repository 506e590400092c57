-- Blocking keys by 64-bit hash, each row carrying its record's version.
--
-- A candidate lookup reads (record_id, version) from one index, without the
-- heap, and the service fetches from source_record only the records its
-- cache does not hold at that version. Keys are hashed in the database
-- (hashtextextended, the function behind hash partitioning, so stable across
-- releases): a bigint compares in one instruction where a text key went
-- through the collation, and the index is half the size. A collision only
-- adds a candidate, which is scored like any other.
--
-- source_record.version counts the record's updates; every update rewrites
-- the record's keys, so a key row's version is its record's. The foreign key
-- to source_record is gone: it cost one lookup per key inserted, records are
-- never deleted, and keys are written only with their record.
ALTER TABLE source_record ADD COLUMN version integer NOT NULL DEFAULT 1;

CREATE TABLE blocking_hash (
  key_hash bigint NOT NULL,
  record_id bigint NOT NULL,
  version integer NOT NULL
);
INSERT INTO blocking_hash (key_hash, record_id, version)
SELECT DISTINCT hashtextextended(key, 0), record_id, 1 FROM blocking_key;
ALTER TABLE blocking_hash ADD PRIMARY KEY (key_hash, record_id) INCLUDE (version);
CREATE INDEX blocking_hash_record ON blocking_hash (record_id);
DROP TABLE blocking_key;
