-- +goose Up
-- Forwarding to external platforms (see ticketing.DeliveryStore). Every
-- outbox row becomes one delivery per registered endpoint, written by a
-- trigger in the transaction that writes the row, so no message is missed
-- whatever the commit order of concurrent tickets.
CREATE TABLE delivery_endpoints (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL
);

CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,          -- the receiver's idempotency key
    message_id      bigint NOT NULL REFERENCES outbox (id),
    ticket_id       bigint NOT NULL,
    endpoint        text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,     -- claims so far
    next_attempt_at timestamptz,                    -- NULL: due now
    leased_until    timestamptz,                    -- claimed by a sender until then
    last_error      text NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    skipped         boolean NOT NULL DEFAULT false, -- not relevant to the endpoint
    dead            boolean NOT NULL DEFAULT false, -- in the dead-letter list
    UNIQUE (message_id, endpoint)
);
-- Claims walk the pending deliveries of one endpoint in message order and
-- check each ticket's earlier pending messages.
CREATE INDEX deliveries_pending ON deliveries (endpoint, message_id) WHERE delivered_at IS NULL AND NOT dead;
CREATE INDEX deliveries_pending_ticket ON deliveries (endpoint, ticket_id, message_id) WHERE delivered_at IS NULL AND NOT dead;
CREATE INDEX deliveries_dead ON deliveries (endpoint, id) WHERE dead;

-- +goose StatementBegin
CREATE FUNCTION outbox_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deliveries (message_id, ticket_id, endpoint)
    SELECT n.id, n.ticket_id, e.name FROM new_rows n CROSS JOIN delivery_endpoints e
    ORDER BY n.id, e.name;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER outbox_fan_out AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION outbox_fan_out();

-- What an endpoint knows of a ticket: the remote id it was given there and
-- the last status seen when polling.
CREATE TABLE external_refs (
    endpoint     text NOT NULL,
    ticket_id    bigint NOT NULL REFERENCES tickets (id),
    remote_id    text NOT NULL DEFAULT '',
    token        text NOT NULL DEFAULT '',
    requested_at timestamptz,
    forwarded_at timestamptz,
    status       text NOT NULL DEFAULT '',
    status_notes text NOT NULL DEFAULT '',
    next_poll_at timestamptz,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (endpoint, ticket_id)
);
CREATE INDEX external_refs_poll ON external_refs (endpoint, next_poll_at) WHERE next_poll_at IS NOT NULL;

-- +goose Down
DROP TABLE external_refs;
DROP TRIGGER outbox_fan_out ON outbox;
DROP FUNCTION outbox_fan_out();
DROP TABLE deliveries;
DROP TABLE delivery_endpoints;
