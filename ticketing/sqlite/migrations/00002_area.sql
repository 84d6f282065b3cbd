-- +goose Up
ALTER TABLE tickets ADD COLUMN grid text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN community text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN street text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN district text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN assisting text NOT NULL DEFAULT '[]';
-- Duplicate search: one category, a narrow band of latitude, then the rest.
CREATE INDEX tickets_category_lat ON tickets (category, lat) WHERE lat IS NOT NULL;

-- +goose Down
DROP INDEX tickets_category_lat;
ALTER TABLE tickets DROP COLUMN grid;
ALTER TABLE tickets DROP COLUMN community;
ALTER TABLE tickets DROP COLUMN street;
ALTER TABLE tickets DROP COLUMN district;
ALTER TABLE tickets DROP COLUMN assisting;
