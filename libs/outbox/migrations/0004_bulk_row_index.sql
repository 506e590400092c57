-- The relay bounds a batch's events without scanning its rows twice: it
-- reads at most batch_size rows, and stops earlier only where bulk rows
-- (events > 1) add too many; this index finds those few rows.
CREATE INDEX outbox_bulk_rows ON outbox (id) WHERE events > 1;
