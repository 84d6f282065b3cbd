-- +goose Up
-- The idempotency keys of the changes each ticket has taken (a WeChat
-- supplement's message id). The store writes them in the transaction that
-- saves the change; a retried change finds its key here and is rolled back,
-- so it is stored once however many instances try it.
CREATE TABLE ticket_keys (
    ticket_id bigint NOT NULL REFERENCES tickets (id),
    key       text NOT NULL,
    PRIMARY KEY (ticket_id, key)
);

-- +goose Down
DROP TABLE ticket_keys;
