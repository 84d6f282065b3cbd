-- +goose Up
-- A liaison's inbox finds the open cases its department assists by the GIN
-- index of migration 00019. Most cases have no assisting department, yet
-- each open one took an entry all the same (GIN keeps a placeholder for an
-- empty array): a write to the index's pending list and its meta page for
-- nearly every ticket dispatched (BENCHMARKS.md, "An eighth pass"). The
-- index now holds only the cases that have one; the inbox's query says so
-- too (ticketing/postgres/queue.go), which lets the planner use it.
--
-- The build reads the tickets table once under this migration's lock,
-- which holds new tickets back for as long: about as long as reading the
-- table from disk. On a large deployment, build it beforehand without
-- holding intake back, and this migration keeps it:
--   CREATE INDEX CONCURRENTLY tickets_assisting ON tickets USING gin
--     (assisting jsonb_path_ops) WHERE status IN ('dispatched', 'accepted',
--     'returned', 'handled') AND assisting <> '[]'::jsonb;
-- (if that build fails, DROP INDEX tickets_assisting before retrying: a
-- failed concurrent build leaves an invalid index behind).
CREATE INDEX IF NOT EXISTS tickets_assisting ON tickets USING gin (assisting jsonb_path_ops)
    WHERE status IN ('dispatched', 'accepted', 'returned', 'handled') AND assisting <> '[]'::jsonb;
DROP INDEX tickets_assisting_open;

-- +goose Down
CREATE INDEX tickets_assisting_open ON tickets USING gin (assisting jsonb_path_ops)
    WHERE status IN ('dispatched', 'accepted', 'returned', 'handled');
DROP INDEX tickets_assisting;
