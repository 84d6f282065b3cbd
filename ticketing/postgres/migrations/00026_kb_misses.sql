-- +goose Up
-- Citizens' questions the knowledge base did not answer well
-- (ticketing.ArticleMiss), for the departments to read.
CREATE TABLE kb_misses (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL,
    source   text NOT NULL,
    question text NOT NULL,
    article  bigint NOT NULL DEFAULT 0,
    score    double precision NOT NULL DEFAULT 0
);
CREATE INDEX kb_misses_at ON kb_misses (at);

-- +goose Down
DROP TABLE kb_misses;
