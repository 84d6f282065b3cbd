-- +goose Up
-- Tracking tokens are kept as their SHA-256 digest (hex), like API tokens:
-- a copy of the database no longer opens every citizen's tracking link.
-- Existing tokens are converted in place, so the links already sent work on.
ALTER TABLE tickets RENAME COLUMN track_token TO track_hash;
UPDATE tickets SET track_hash = encode(sha256(convert_to(track_hash, 'UTF8')), 'hex');

-- The department an integration's liaison token acts for
-- (ticketing.Token.Department); empty for every other token.
ALTER TABLE api_tokens ADD COLUMN department text NOT NULL DEFAULT '';

-- +goose Down
-- A digest cannot be turned back into its token: links issued so far stop working.
ALTER TABLE api_tokens DROP COLUMN department;
ALTER TABLE tickets RENAME COLUMN track_hash TO track_token;
