-- The relay no longer deletes what it published (deleting and WAL-logging
-- each row was most of its database time). It reads rows above a watermark,
-- `outbox_relay.published_upto`, and raises the watermark in the transaction
-- that follows Kafka's acknowledgements; published rows go away a whole
-- partition at a time (DROP TABLE, nothing per row). The outbox is therefore
-- partitioned by id: each partition spans 2^40 ids, and the relay starts the
-- next one by creating it and moving the id sequence to its first id.
ALTER TABLE outbox RENAME TO outbox_unpartitioned;
ALTER INDEX outbox_pkey RENAME TO outbox_unpartitioned_pkey;
ALTER SEQUENCE outbox_id_seq OWNED BY NONE;

CREATE TABLE outbox (
  id bigint NOT NULL DEFAULT nextval('outbox_id_seq'::regclass),
  event_id uuid NOT NULL,
  topic text NOT NULL,
  event_key text NOT NULL,
  event_type text NOT NULL,
  envelope bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  events integer NOT NULL DEFAULT 1,
  PRIMARY KEY (id)
) PARTITION BY RANGE (id);
ALTER TABLE outbox ALTER COLUMN envelope SET STORAGE EXTERNAL;
ALTER SEQUENCE outbox_id_seq OWNED BY outbox.id;

-- Partition k holds ids [k * 2^40, (k + 1) * 2^40); the first also the ids
-- below. The relay creates the others (outbox::Relay::Maintain).
CREATE TABLE outbox_p0 (LIKE outbox INCLUDING STORAGE);
ALTER TABLE outbox ATTACH PARTITION outbox_p0 FOR VALUES FROM (MINVALUE) TO (1099511627776);

INSERT INTO outbox (id, event_id, topic, event_key, event_type, envelope, created_at, events)
  SELECT id, event_id, topic, event_key, event_type, envelope, created_at, events
  FROM outbox_unpartitioned;
DROP TABLE outbox_unpartitioned;

-- Every outbox row with an id at or below published_upto is in Kafka (or
-- was rolled back). One row.
CREATE TABLE outbox_relay (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  published_upto bigint NOT NULL
);
INSERT INTO outbox_relay (published_upto) VALUES (0);
