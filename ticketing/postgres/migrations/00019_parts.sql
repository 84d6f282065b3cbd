-- +goose Up
-- Linkage (联动): each assisting department's part of a case, its deadline
-- and what it reported (ticketing.Part), as a JSON array.
ALTER TABLE tickets ADD COLUMN parts jsonb NOT NULL DEFAULT '[]';
-- A liaison's inbox lists the open cases its department assists as well
-- as those it leads.
CREATE INDEX tickets_assisting_open ON tickets USING gin (assisting jsonb_path_ops)
    WHERE status IN ('dispatched', 'accepted', 'returned', 'handled');

-- +goose Down
DROP INDEX tickets_assisting_open;
ALTER TABLE tickets DROP COLUMN parts;
