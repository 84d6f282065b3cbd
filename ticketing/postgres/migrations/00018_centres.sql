-- +goose Up
-- The centres of the grid's levels (属地管理). A district or street
-- centre's dispatcher, and a supervisor, belong to an area ('' is the
-- city); a case is held by one centre at a time, whose own clock runs
-- until centre_due (NULL: none).
ALTER TABLE users ADD COLUMN area text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN centre text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN centre_due timestamptz;
-- A centre's own cases on its desk, oldest clock first.
CREATE INDEX tickets_centre_open ON tickets (centre, centre_due, id)
    WHERE status IN ('received', 'registered', 'returned');

-- +goose Down
DROP INDEX tickets_centre_open;
ALTER TABLE tickets DROP COLUMN centre_due;
ALTER TABLE tickets DROP COLUMN centre;
ALTER TABLE users DROP COLUMN area;
