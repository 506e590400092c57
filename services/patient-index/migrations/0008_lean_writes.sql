-- Fewer writes per registration (measured at 1,000,000 patients; BENCHMARKS.md).
--
-- blocking_hash_record served one statement: the DELETE of a record's keys
-- when the record changes. An update now deletes the keys of the version it
-- replaces by (key_hash, record_id), through the primary key, so each key
-- written costs one index entry instead of two. (A change to BlockingKeys
-- comes with a migration that rewrites every record's keys anyway: records
-- written before it are not found by the new keys otherwise.)
DROP INDEX blocking_hash_record;

-- Each review task inserted ran two referential checks, and each locked its
-- source record (FOR KEY SHARE writes the row's lock into its heap page, and
-- WAL): half the cost of the insert. Source records are never deleted, a
-- task is written in the transaction that writes or locks both records, and
-- the contract test holds every store to that.
ALTER TABLE review_task
  DROP CONSTRAINT review_task_record_id_fkey,
  DROP CONSTRAINT review_task_candidate_record_id_fkey;
