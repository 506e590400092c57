-- A registration's decisions lean on the identities of the records it
-- matched. Those come from committed records, which never point to a merged
-- identity (a merge moves the records first), so they are live unless a
-- merge committed since they were read. patient-index therefore no longer
-- locks them in a round trip of its own before writing: it calls this with
-- its writes, just before them, in the round trip that commits. It locks
-- the identities (in order, as every other path does) and fails with
-- serialization_failure, which the service retries from the start (reading
-- the moved records), when one was merged or is gone.
CREATE FUNCTION expect_live_identities(ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  live int;
BEGIN
  SELECT count(*) INTO live FROM (
    SELECT 1 FROM identity WHERE regional_id = ANY (ids) AND merged_into IS NULL
    ORDER BY regional_id FOR UPDATE) AS locked;
  IF live <> cardinality(ids) THEN
    RAISE EXCEPTION 'an identity was merged since it was read'
      USING ERRCODE = 'serialization_failure';
  END IF;
END
$$;
