-- +goose Up
-- The unit cells assigned to a supervisor (ticketing.User.Cells), comma
-- separated; empty: every cell of the supervisor's area.
ALTER TABLE users ADD COLUMN cells text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN cells;
