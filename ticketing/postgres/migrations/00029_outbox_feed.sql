-- +goose Up
-- The desks read the outbox as a feed (ticketing.ChangeFeed) instead of
-- through deliveries: a message no longer becomes a delivery row, leased
-- and then marked delivered, for the desks.
--
-- A feed reads in the order of its writers' transaction ids, and only
-- messages of transactions older than every one still running: ids of the
-- outbox's own sequence are taken before commit, so a reader that followed
-- them could pass a message whose transaction commits later. Adding the
-- column and then its default rewrites nothing: older rows keep NULL and
-- are never read, and the index of the rest starts empty (its build takes
-- no time however large the outbox, under this migration's lock).
ALTER TABLE outbox ADD COLUMN xid xid8;
ALTER TABLE outbox ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX outbox_feed ON outbox (xid, id) WHERE xid IS NOT NULL;
-- outbox.delivered_at belongs to the first relay, before deliveries; the
-- column is never set, and its index took an entry for every message.
DROP INDEX outbox_pending;

-- Where each feed has got to, and who reads it.
CREATE TABLE feeds (
    name         text PRIMARY KEY,
    xid          xid8 NOT NULL,
    message_id   bigint NOT NULL,
    holder       text NOT NULL,
    leased_until timestamptz NOT NULL
);

-- The desks' deliveries not yet made (pending or dead) are the feed's from
-- now on; nothing else would send them.
DELETE FROM deliveries WHERE endpoint = 'desks' AND delivered_at IS NULL;
DELETE FROM delivery_endpoints WHERE name = 'desks';

-- +goose Down
INSERT INTO delivery_endpoints (name, created_at) VALUES ('desks', now()) ON CONFLICT (name) DO NOTHING;
DROP TABLE feeds;
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;
DROP INDEX outbox_feed;
ALTER TABLE outbox DROP COLUMN xid;
