-- +goose Up
-- Hotline agents' SIP accounts (ticketing.Agent), keyed by extension. Only
-- the digest secret HA1 is kept, never the password. Skills are a JSON
-- array; times are INTEGER microseconds since the Unix epoch, as in 00001.
CREATE TABLE agents (
    ext        text PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    realm      text NOT NULL,
    ha1        text NOT NULL,
    skills     text NOT NULL DEFAULT '[]',
    created_at integer NOT NULL,
    updated_at integer NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE agents;
