-- +goose Up
-- Forwarding to external platforms (see ticketing.DeliveryStore). Every
-- outbox row becomes one delivery per registered endpoint, written by a
-- trigger in the transaction that writes the row. Times are INTEGER
-- microseconds since the Unix epoch, as in 00001.
CREATE TABLE delivery_endpoints (
    name       text PRIMARY KEY,
    created_at integer NOT NULL
);

CREATE TABLE deliveries (
    id              integer PRIMARY KEY AUTOINCREMENT, -- the receiver's idempotency key
    message_id      integer NOT NULL REFERENCES outbox (id),
    ticket_id       integer NOT NULL,
    endpoint        text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,        -- claims so far
    next_attempt_at integer,                           -- NULL: due now
    leased_until    integer,                           -- claimed by a sender until then
    last_error      text NOT NULL DEFAULT '',
    delivered_at    integer,
    skipped         integer NOT NULL DEFAULT 0,        -- not relevant to the endpoint
    dead            integer NOT NULL DEFAULT 0,        -- in the dead-letter list
    UNIQUE (message_id, endpoint)
);
CREATE INDEX deliveries_pending ON deliveries (endpoint, message_id) WHERE delivered_at IS NULL AND dead = 0;
CREATE INDEX deliveries_pending_ticket ON deliveries (endpoint, ticket_id, message_id) WHERE delivered_at IS NULL AND dead = 0;
CREATE INDEX deliveries_dead ON deliveries (endpoint, id) WHERE dead = 1;

-- +goose StatementBegin
CREATE TRIGGER outbox_fan_out AFTER INSERT ON outbox
BEGIN
    INSERT INTO deliveries (message_id, ticket_id, endpoint)
    SELECT NEW.id, NEW.ticket_id, name FROM delivery_endpoints ORDER BY name;
END;
-- +goose StatementEnd

CREATE TABLE external_refs (
    endpoint     text NOT NULL,
    ticket_id    integer NOT NULL REFERENCES tickets (id),
    remote_id    text NOT NULL DEFAULT '',
    token        text NOT NULL DEFAULT '',
    requested_at integer,
    forwarded_at integer,
    status       text NOT NULL DEFAULT '',
    status_notes text NOT NULL DEFAULT '',
    next_poll_at integer,
    updated_at   integer NOT NULL,
    PRIMARY KEY (endpoint, ticket_id)
) WITHOUT ROWID;
CREATE INDEX external_refs_poll ON external_refs (endpoint, next_poll_at) WHERE next_poll_at IS NOT NULL;

-- +goose Down
DROP TABLE external_refs;
DROP TRIGGER outbox_fan_out;
DROP TABLE deliveries;
DROP TABLE delivery_endpoints;
