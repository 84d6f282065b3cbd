-- +goose Up
-- Times are INTEGER microseconds since the Unix epoch (UTC), the precision PostgreSQL keeps.
CREATE TABLE id_blocks (
    name text PRIMARY KEY,
    next integer NOT NULL
);
INSERT INTO id_blocks (name, next) VALUES ('ticket', 1);

CREATE TABLE tickets (
    id              integer PRIMARY KEY,
    number          text NOT NULL UNIQUE,
    track_token     text NOT NULL,
    channel         text NOT NULL,
    external_id     text NOT NULL,
    fingerprint     text NOT NULL,
    line            text NOT NULL DEFAULT '',
    reporter_name   text NOT NULL DEFAULT '',
    reporter_phone  text NOT NULL DEFAULT '',
    reporter_openid text NOT NULL DEFAULT '',
    body            text NOT NULL,
    lat             real,
    lon             real,
    address         text NOT NULL DEFAULT '',
    attachments     text NOT NULL DEFAULT '[]',
    status          text NOT NULL,
    category        text NOT NULL DEFAULT '',
    category_name   text NOT NULL DEFAULT '',
    department      text NOT NULL DEFAULT '',
    department_name text NOT NULL DEFAULT '',
    priority        text NOT NULL DEFAULT 'normal',
    due_at          integer,
    routing_rule    text NOT NULL DEFAULT '',
    routing_reason  text NOT NULL DEFAULT '',
    confidence      real NOT NULL DEFAULT 0,
    master_id       integer REFERENCES tickets (id),
    rework_count    integer NOT NULL DEFAULT 0,
    extension_count integer NOT NULL DEFAULT 0,
    extension       text,
    evaluation      text,
    received_at     integer NOT NULL,
    created_at      integer NOT NULL,
    updated_at      integer NOT NULL,
    version         integer NOT NULL DEFAULT 1,
    UNIQUE (channel, external_id)
);
CREATE INDEX tickets_reporter_phone ON tickets (reporter_phone) WHERE reporter_phone <> '';
CREATE INDEX tickets_department_status ON tickets (department, status);
CREATE INDEX tickets_status_due ON tickets (status, due_at);

CREATE TABLE ticket_events (
    ticket_id   integer NOT NULL REFERENCES tickets (id),
    seq         integer NOT NULL,
    at          integer NOT NULL,
    actor       text NOT NULL,
    type        text NOT NULL,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    note        text NOT NULL DEFAULT '',
    public      text NOT NULL DEFAULT '',
    PRIMARY KEY (ticket_id, seq)
) WITHOUT ROWID;

CREATE TABLE outbox (
    id           integer PRIMARY KEY AUTOINCREMENT,
    ticket_id    integer NOT NULL REFERENCES tickets (id),
    topic        text NOT NULL,
    payload      text NOT NULL,
    created_at   integer NOT NULL,
    delivered_at integer
);
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;

CREATE TABLE api_tokens (
    id         integer PRIMARY KEY AUTOINCREMENT,
    name       text NOT NULL DEFAULT '',
    role       text NOT NULL,
    hash       text NOT NULL UNIQUE,
    created_at integer NOT NULL
);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE outbox;
DROP TABLE ticket_events;
DROP TABLE tickets;
DROP TABLE id_blocks;
