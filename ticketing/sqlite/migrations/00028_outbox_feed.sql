-- +goose Up
-- The desks read the outbox as a feed (ticketing.ChangeFeed), as in the
-- PostgreSQL store's migration 00029. Here writes are serial, so a message's
-- id is its place in commit order and the feed needs no other. leased_until
-- is INTEGER microseconds since the Unix epoch, as in 00001.
CREATE TABLE feeds (
    name         text PRIMARY KEY,
    message_id   integer NOT NULL,
    holder       text NOT NULL,
    leased_until integer NOT NULL
) WITHOUT ROWID;
-- outbox.delivered_at belongs to the first relay, before deliveries; the
-- column is never set, and its index took an entry for every message.
DROP INDEX outbox_pending;

-- The desks' deliveries not yet made (pending or dead) are the feed's from
-- now on; nothing else would send them.
DELETE FROM deliveries WHERE endpoint = 'desks' AND delivered_at IS NULL;
DELETE FROM delivery_endpoints WHERE name = 'desks';

-- +goose Down
INSERT INTO delivery_endpoints (name, created_at) VALUES ('desks', CAST(strftime('%s', 'now') AS integer) * 1000000) ON CONFLICT (name) DO NOTHING;
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;
DROP TABLE feeds;
