-- +goose Up
-- Signing out moves the epoch on; a session cookie carries the epoch it
-- began in and holds only while it matches (ticketing.User.SessionEpoch,
-- ticketing.Agent.SessionEpoch), so a copied cookie dies with the sign-out.
ALTER TABLE users ADD COLUMN session_epoch integer NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN session_epoch integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE agents DROP COLUMN session_epoch;
ALTER TABLE users DROP COLUMN session_epoch;
