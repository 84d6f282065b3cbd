-- +goose Up
-- A tally row lists the metrics of the tallies that share its moment, keys
-- and count, joined by commas, as in the PostgreSQL store's migration 00032:
-- a new ticket's received, registered and dispatched are one insert, not
-- three. A row of one metric is already a list of one. As there, an
-- instance of an older release cannot write tallies once this has run.
ALTER TABLE indicator_tallies RENAME COLUMN metric TO metrics;

-- +goose Down
WITH RECURSIVE split(id, m, rest) AS (
    SELECT id, '', metrics || ',' FROM indicator_tallies WHERE instr(metrics, ',') > 0
    UNION ALL
    SELECT id, substr(rest, 1, instr(rest, ',') - 1), substr(rest, instr(rest, ',') + 1) FROM split WHERE rest <> ''
)
INSERT INTO indicator_tallies (at, metrics, department, district, street, community, grid, supervisor, article, category, channel, n)
    SELECT t.at, s.m, t.department, t.district, t.street, t.community, t.grid, t.supervisor, t.article, t.category, t.channel, t.n
    FROM split s JOIN indicator_tallies t ON t.id = s.id WHERE s.m <> '';
DELETE FROM indicator_tallies WHERE instr(metrics, ',') > 0;
ALTER TABLE indicator_tallies RENAME COLUMN metrics TO metric;
