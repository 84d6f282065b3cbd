-- +goose Up
CREATE SEQUENCE ticket_id_seq;

CREATE TABLE tickets (
    id              bigint PRIMARY KEY,
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
    lat             double precision,
    lon             double precision,
    address         text NOT NULL DEFAULT '',
    attachments     jsonb NOT NULL DEFAULT '[]',
    status          text NOT NULL,
    category        text NOT NULL DEFAULT '',
    category_name   text NOT NULL DEFAULT '',
    department      text NOT NULL DEFAULT '',
    department_name text NOT NULL DEFAULT '',
    priority        text NOT NULL DEFAULT 'normal',
    due_at          timestamptz,
    routing_rule    text NOT NULL DEFAULT '',
    routing_reason  text NOT NULL DEFAULT '',
    confidence      double precision NOT NULL DEFAULT 0,
    master_id       bigint REFERENCES tickets (id),
    rework_count    integer NOT NULL DEFAULT 0,
    extension_count integer NOT NULL DEFAULT 0,
    extension       jsonb,
    evaluation      jsonb,
    received_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer NOT NULL DEFAULT 1,
    UNIQUE (channel, external_id)
);
CREATE INDEX tickets_reporter_phone ON tickets (reporter_phone) WHERE reporter_phone <> '';
CREATE INDEX tickets_department_status ON tickets (department, status);
CREATE INDEX tickets_status_due ON tickets (status, due_at);

-- The event log is append-only: the audit trail and the source of every indicator.
CREATE TABLE ticket_events (
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    seq         integer NOT NULL,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    type        text NOT NULL,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    note        text NOT NULL DEFAULT '',
    public      text NOT NULL DEFAULT '',
    PRIMARY KEY (ticket_id, seq)
);

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    ticket_id    bigint NOT NULL REFERENCES tickets (id),
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    delivered_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;

CREATE TABLE api_tokens (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    role       text NOT NULL,
    hash       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE outbox;
DROP TABLE ticket_events;
DROP TABLE tickets;
DROP SEQUENCE ticket_id_seq;
