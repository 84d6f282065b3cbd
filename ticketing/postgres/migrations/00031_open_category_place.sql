-- +goose Up
-- The duplicate search (Store.Nearby) looks for open cases of the same
-- category within a few dozen metres, received in the last days. Its index
-- held every case ever located, by category and latitude alone: on a
-- hotline's scale, with 200,000 cases in the window, PostgreSQL read the
-- latitude band and all the window's open cases and intersected them, 19 ms
-- a report (BENCHMARKS.md, "An eighth pass"). This one holds only the open
-- cases, with the longitude too, so a search reads the few cases in its box:
-- 0.12 ms on the same data. A new case costs it the same one entry.
--
-- As with 00030, the build reads the tickets table under this migration's
-- lock; on a large deployment build it beforehand, concurrently, and this
-- migration keeps it:
--   CREATE INDEX CONCURRENTLY tickets_open_category_place ON tickets
--     (category, lat, lon) WHERE lat IS NOT NULL AND status IN ('received',
--     'registered', 'dispatched', 'accepted', 'returned', 'handled');
CREATE INDEX IF NOT EXISTS tickets_open_category_place ON tickets (category, lat, lon)
    WHERE lat IS NOT NULL AND status IN ('received', 'registered', 'dispatched', 'accepted', 'returned', 'handled');
DROP INDEX tickets_category_lat;

-- +goose Down
CREATE INDEX tickets_category_lat ON tickets (category, lat) WHERE lat IS NOT NULL;
DROP INDEX tickets_open_category_place;
