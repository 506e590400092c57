-- Transactional outbox: services append events here in the same transaction
-- as their data. A row is an event not yet published: the relay claims rows
-- in id order, publishes them, and deletes them in the same transaction
-- (rolled back, and so kept, if Kafka did not acknowledge every one).
CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  event_id uuid NOT NULL,
  topic text NOT NULL,
  event_key text NOT NULL,
  event_type text NOT NULL,
  envelope bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Idempotent consumers: one row per (consumer, event) processed.
CREATE TABLE inbox (
  consumer text NOT NULL,
  event_id uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
