-- +goose Up
-- Where routing placed the ticket on the grid, and the assisting departments (协办).
ALTER TABLE tickets
    ADD COLUMN grid       text NOT NULL DEFAULT '',
    ADD COLUMN community  text NOT NULL DEFAULT '',
    ADD COLUMN street     text NOT NULL DEFAULT '',
    ADD COLUMN district   text NOT NULL DEFAULT '',
    ADD COLUMN assisting  jsonb NOT NULL DEFAULT '[]';
-- Duplicate search: one category, a narrow band of latitude, then the rest.
CREATE INDEX tickets_category_lat ON tickets (category, lat) WHERE lat IS NOT NULL;

-- +goose Down
DROP INDEX tickets_category_lat;
ALTER TABLE tickets DROP COLUMN grid, DROP COLUMN community, DROP COLUMN street, DROP COLUMN district, DROP COLUMN assisting;
