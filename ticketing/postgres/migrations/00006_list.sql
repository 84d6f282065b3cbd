-- +goose Up
-- Listings by time (Open311 GET requests, servicerequestupdates).
CREATE INDEX tickets_channel_received ON tickets (channel, received_at, id);
CREATE INDEX tickets_received ON tickets (received_at, id);
CREATE INDEX ticket_events_at ON ticket_events (at);

-- +goose Down
DROP INDEX ticket_events_at;
DROP INDEX tickets_received;
DROP INDEX tickets_channel_received;
