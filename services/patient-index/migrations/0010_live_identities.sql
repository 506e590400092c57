-- A registration's decisions lean on the identities of the records it
-- matched. Those come from committed records, which never point to a merged
-- identity (a merge moves the records first), so they are live unless a
-- merge committed since they were read. patient-index therefore no longer
-- locks them in a round trip of its own before writing: it calls this with
-- its writes, just before them, in the round trip that commits. It locks
-- the identities (in order, as every other path does) and fails with
-- serialization_failure, which the service retries from the start (reading
-- the moved records), when one was merged; an identity that does not exist
-- is an error no retry can mend (no_data_found).
CREATE FUNCTION expect_live_identities(ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  wanted int := (SELECT count(DISTINCT id) FROM unnest(ids) AS id);
  found int;
  live int;
BEGIN
  -- FOR UPDATE returns each row as it is once its lock is granted: a merge
  -- that held it and committed shows here as merged_into set.
  SELECT count(*), count(*) FILTER (WHERE merged_into IS NULL) INTO found, live
  FROM (SELECT merged_into FROM identity WHERE regional_id = ANY (ids)
        ORDER BY regional_id FOR UPDATE) AS locked;
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
