-- +goose Up
-- Linkage (联动): the assisting departments' parts, as in the PostgreSQL
-- store's migration 00019.
ALTER TABLE tickets ADD COLUMN parts text NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE tickets DROP COLUMN parts;
