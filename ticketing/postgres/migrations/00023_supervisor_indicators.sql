-- +goose Up
-- Indicators per community and per supervisor (ticketing.DimCommunity,
-- DimSupervisor): the supervisor who reported a field case, and the two
-- new keys of a tally.
ALTER TABLE tickets ADD COLUMN found_by text NOT NULL DEFAULT '';
ALTER TABLE indicator_tallies ADD COLUMN community text NOT NULL DEFAULT '';
ALTER TABLE indicator_tallies ADD COLUMN supervisor text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE indicator_tallies DROP COLUMN supervisor;
ALTER TABLE indicator_tallies DROP COLUMN community;
ALTER TABLE tickets DROP COLUMN found_by;
