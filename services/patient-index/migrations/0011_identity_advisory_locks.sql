-- A registration's check of the identities its decisions lean on (0010)
-- took each identity row FOR UPDATE. A row lock is a write: it sets the
-- tuple's xmax, dirties its page and logs it (with the whole page, the first
-- time after a checkpoint), and it made two registrations linking to one
-- identity wait for each other, which nothing requires. It was the costliest
-- statement of a registration after its insert (0.13 ms a call at 1,000,000
-- patients; BENCHMARKS.md, eleventh session).
--
-- Identities are now locked by advisory locks in a space of their own (the
-- two-key form, class 1297238340, 'MRID'): registrations take them shared,
-- so they never wait for each other, and every path that merges, unmerges
-- or moves records between identities takes them exclusive (with its row
-- locks; patient-index's LockIdentities), so a registration and a merge of
-- an identity it links to still run one after the other. Two identities
-- whose IDs hash alike share a lock: a registration may wait for an
-- unrelated merge, never the reverse of what is needed.
CREATE OR REPLACE FUNCTION expect_live_identities(ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  wanted int := (SELECT count(DISTINCT id) FROM unnest(ids) AS id);
  found int;
  live int;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(1297238340, hashtext(id::text))
  FROM (SELECT DISTINCT id FROM unnest(ids) AS id ORDER BY id) AS sorted;
  -- A new statement, so a new snapshot (READ COMMITTED, a volatile
  -- function): a merge that held a lock and committed shows here as
  -- merged_into set.
  SELECT count(*), count(*) FILTER (WHERE merged_into IS NULL) INTO found, live
  FROM identity WHERE regional_id = ANY (ids);
  IF found <> wanted THEN
    -- Records point only at identities that exist: no retry can help.
    RAISE EXCEPTION 'expect_live_identities: no such identity'
      USING ERRCODE = 'no_data_found';
  END IF;
  IF live <> found THEN
    RAISE EXCEPTION 'an identity was merged since it was read'
      USING ERRCODE = 'serialization_failure';
  END IF;
END
$$;
