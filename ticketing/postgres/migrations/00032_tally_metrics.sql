-- +goose Up
-- A tally row lists the metrics of the tallies that share its moment, keys
-- and count: a new ticket's received, registered and dispatched are one row
-- and one index entry, not three. The tallies were 2.8 of a new ticket's 7.7
-- rows, in the one writer that every submit waits for (BENCHMARKS.md, "A
-- thirteenth pass"). Tallies live until the next rollup, so the table is
-- small when this runs. An instance of an older release cannot write
-- tallies once this has run, so its submits fail (503, nothing acknowledged):
-- replace every instance together.
ALTER TABLE indicator_tallies ADD COLUMN metrics text[];
UPDATE indicator_tallies SET metrics = ARRAY[metric];
ALTER TABLE indicator_tallies ALTER COLUMN metrics SET NOT NULL;
ALTER TABLE indicator_tallies ADD CONSTRAINT indicator_tallies_metrics CHECK (cardinality(metrics) > 0);
ALTER TABLE indicator_tallies DROP COLUMN metric;

-- +goose Down
ALTER TABLE indicator_tallies ADD COLUMN metric text;
INSERT INTO indicator_tallies (at, metric, metrics, department, district, street, community, grid, supervisor, article, category, channel, n)
    SELECT at, m, ARRAY[m], department, district, street, community, grid, supervisor, article, category, channel, n
    FROM indicator_tallies, unnest(metrics) AS m WHERE cardinality(metrics) > 1;
DELETE FROM indicator_tallies WHERE cardinality(metrics) > 1;
UPDATE indicator_tallies SET metric = metrics[1] WHERE metric IS NULL;
ALTER TABLE indicator_tallies ALTER COLUMN metric SET NOT NULL;
ALTER TABLE indicator_tallies DROP COLUMN metrics;
