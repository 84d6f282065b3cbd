-- +goose Up
-- Hotline agents' SIP accounts (ticketing.Agent), keyed by extension. Only
-- the digest secret HA1 is kept, never the password. ext sorts in byte
-- order (COLLATE "C") so listings by extension need no sort.
CREATE TABLE agents (
    ext        text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    realm      text NOT NULL,
    ha1        text NOT NULL,
    skills     jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE agents;
