-- +goose Up
-- The centres of the grid's levels, as in the PostgreSQL store's migration
-- 00018. centre_due is INTEGER microseconds since the Unix epoch, as in
-- 00001; NULL: no clock runs.
ALTER TABLE users ADD COLUMN area text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN centre text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN centre_due integer;
CREATE INDEX tickets_centre_open ON tickets (centre, centre_due, id)
    WHERE status IN ('received', 'registered', 'returned');

-- +goose Down
DROP INDEX tickets_centre_open;
ALTER TABLE tickets DROP COLUMN centre_due;
ALTER TABLE tickets DROP COLUMN centre;
ALTER TABLE users DROP COLUMN area;
