-- +goose Up
-- Tracking tokens are kept as their SHA-256 digest (hex), like API tokens.
-- The column is renamed here; migration 17 (a Go migration, hashtrack.go:
-- SQLite has no SHA-256 function) converts the existing tokens.
ALTER TABLE tickets RENAME COLUMN track_token TO track_hash;

-- The department an integration's liaison token acts for
-- (ticketing.Token.Department); empty for every other token.
ALTER TABLE api_tokens ADD COLUMN department text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE api_tokens DROP COLUMN department;
ALTER TABLE tickets RENAME COLUMN track_hash TO track_token;
