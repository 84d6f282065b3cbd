-- +goose Up
-- Staff who sign in to the desks (ticketing.User), keyed by login name.
-- Only an argon2id hash of the password is kept. Users are disabled, never
-- deleted. Times are INTEGER microseconds since the Unix epoch, as in 00001.
CREATE TABLE users (
    name          text PRIMARY KEY,
    display_name  text NOT NULL DEFAULT '',
    role          text NOT NULL,
    department    text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    disabled      integer NOT NULL DEFAULT 0,
    created_at    integer NOT NULL,
    updated_at    integer NOT NULL
) WITHOUT ROWID;

-- The user an API token acts for (ticketing.Token.User); NULL for an
-- integration's token.
ALTER TABLE api_tokens ADD COLUMN user_name text REFERENCES users (name);
CREATE INDEX api_tokens_user_name ON api_tokens (user_name) WHERE user_name IS NOT NULL;

-- +goose Down
-- SQLite cannot drop a column that has a foreign key: rebuild the table.
DROP INDEX api_tokens_user_name;
CREATE TABLE api_tokens_down (
    id         integer PRIMARY KEY AUTOINCREMENT,
    name       text NOT NULL DEFAULT '',
    role       text NOT NULL,
    hash       text NOT NULL UNIQUE,
    created_at integer NOT NULL
);
INSERT INTO api_tokens_down (id, name, role, hash, created_at) SELECT id, name, role, hash, created_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_down RENAME TO api_tokens;
DROP TABLE users;
