-- +goose Up
-- Where routing placed the ticket on the grid, and the assisting departments (协办).
ALTER TABLE tickets
    ADD COLUMN grid       text NOT NULL DEFAULT '',
    ADD COLUMN community  text NOT NULL DEFAULT '',
    ADD COLUMN street     text NOT NULL DEFAULT '',
    ADD COLUMN district   text NOT NULL DEFAULT '',
    ADD COLUMN assisting  jsonb NOT NULL DEFAULT '[]';
CREATE INDEX tickets_category_received ON tickets (category, received_at) WHERE lat IS NOT NULL;

-- +goose Down
DROP INDEX tickets_category_received;
ALTER TABLE tickets DROP COLUMN grid, DROP COLUMN community, DROP COLUMN street, DROP COLUMN district, DROP COLUMN assisting;
