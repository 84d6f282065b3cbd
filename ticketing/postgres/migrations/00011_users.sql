-- +goose Up
-- Staff who sign in to the desks (ticketing.User), keyed by login name.
-- Only an argon2id hash of the password is kept. Users are disabled, never
-- deleted. name sorts in byte order (COLLATE "C") so listings need no sort.
CREATE TABLE users (
    name          text COLLATE "C" PRIMARY KEY,
    display_name  text NOT NULL DEFAULT '',
    role          text NOT NULL,
    department    text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- The user an API token acts for (ticketing.Token.User); NULL for an
-- integration's token.
ALTER TABLE api_tokens ADD COLUMN user_name text COLLATE "C" REFERENCES users (name);
CREATE INDEX api_tokens_user_name ON api_tokens (user_name) WHERE user_name IS NOT NULL;

-- +goose Down
DROP INDEX api_tokens_user_name;
ALTER TABLE api_tokens DROP COLUMN user_name;
DROP TABLE users;
