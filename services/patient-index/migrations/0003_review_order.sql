-- A stable order for review tasks: creation order, even within one
-- transaction (created_at is the transaction's start time).
ALTER TABLE review_task ADD COLUMN seq bigserial;
CREATE INDEX review_task_open_seq ON review_task (seq) WHERE status = 'open';
