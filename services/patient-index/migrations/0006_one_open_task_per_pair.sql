-- At most one open review task per (record, candidate) pair; older
-- duplicates from before this rule are closed as superseded.
UPDATE review_task SET status = 'superseded', resolved_at = now()
 WHERE status = 'open'
   AND id NOT IN (SELECT DISTINCT ON (record_id, candidate_record_id) id
                    FROM review_task WHERE status = 'open'
                   ORDER BY record_id, candidate_record_id, seq DESC);
CREATE UNIQUE INDEX review_task_one_open_per_pair
  ON review_task (record_id, candidate_record_id) WHERE status = 'open';
