-- +goose Up
ALTER TABLE tickets ADD COLUMN reporter_email text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tickets DROP COLUMN reporter_email;
