-- +goose Up
-- The call log (ticketing.Call): one row per call, keyed by the PBX's or
-- SIP call id; call_tickets links it to the tickets logged from it.
-- Times are INTEGER microseconds since the Unix epoch, as in 00001.
CREATE TABLE calls (
    id             integer PRIMARY KEY AUTOINCREMENT,
    call_id        text NOT NULL UNIQUE,
    line           text NOT NULL DEFAULT '',
    caller         text NOT NULL DEFAULT '',
    agent          text NOT NULL DEFAULT '',
    direction      text NOT NULL,
    arrived_at     integer NOT NULL,
    answered_at    integer,
    ended_at       integer,
    cause          text NOT NULL DEFAULT '',
    called_back_at integer
);
CREATE INDEX calls_arrived ON calls (arrived_at);
CREATE INDEX calls_callback ON calls (arrived_at)
    WHERE direction = 'in' AND cause NOT IN ('', 'answered') AND caller <> '' AND called_back_at IS NULL;

CREATE TABLE call_tickets (
    call_pk integer NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    number  text NOT NULL,
    PRIMARY KEY (call_pk, number)
);

-- +goose Down
DROP TABLE call_tickets;
DROP TABLE calls;
