-- +goose Up
-- Citizens' questions the knowledge base did not answer well
-- (ticketing.ArticleMiss), for the departments to read.
-- As in the PostgreSQL store's migration 00026; at is INTEGER
-- microseconds since the Unix epoch.
CREATE TABLE kb_misses (
    id       integer PRIMARY KEY,
    at       integer NOT NULL,
    source   text NOT NULL,
    question text NOT NULL,
    article  integer NOT NULL DEFAULT 0,
    score    real NOT NULL DEFAULT 0
);
CREATE INDEX kb_misses_at ON kb_misses (at);

-- +goose Down
DROP TABLE kb_misses;
