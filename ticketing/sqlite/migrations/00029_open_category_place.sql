-- +goose Up
-- The duplicate search's index holds only open cases, as in the PostgreSQL
-- store's migration 00031: the old one held every case ever located, and
-- on 1.2 million cases (200,000 in the search's 72-hour window) a search
-- read and looked up every case of its category's latitude band, 0.9 ms;
-- this one reads the open cases of the band alone (BENCHMARKS.md, "An
-- eighth pass"). The states are written as the query writes them
-- (ticketing/sqlite/sqlite.go, nearbySQL): SQLite uses a partial index only
-- when the query's WHERE holds the index's terms.
CREATE INDEX tickets_open_category_place ON tickets (category, lat, lon)
    WHERE lat IS NOT NULL AND status IN ('received','registered','dispatched','accepted','returned','handled');
DROP INDEX tickets_category_lat;

-- +goose Down
CREATE INDEX tickets_category_lat ON tickets (category, lat) WHERE lat IS NOT NULL;
DROP INDEX tickets_open_category_place;
