-- +goose Up
-- The claim's walk in message order gets an index of its own: its predicate
-- carries `ticket_id > 0`, which the claim states and its per-ticket lookup
-- (is an earlier message of this ticket pending?) does not, so that lookup
-- can only use deliveries_pending_ticket. With both indexes open to it,
-- PostgreSQL planned it, on a table too new for statistics, down this index
-- in message order, filtering by ticket: through every delivered entry
-- VACUUM had not yet removed, 150 pages a candidate, 4.5 ms a claim of 100.
CREATE INDEX deliveries_claim ON deliveries (endpoint, message_id) WHERE delivered_at IS NULL AND NOT dead AND ticket_id > 0;
DROP INDEX deliveries_pending;
-- Room on each page for the claim's lease (attempts, leased_until, neither
-- indexed) to be written beside the row, without new entries in the five
-- indexes: a full page sends the new version elsewhere.
ALTER TABLE deliveries SET (fillfactor = 80);

-- +goose Down
ALTER TABLE deliveries RESET (fillfactor);
CREATE INDEX deliveries_pending ON deliveries (endpoint, message_id) WHERE delivered_at IS NULL AND NOT dead;
DROP INDEX deliveries_claim;
