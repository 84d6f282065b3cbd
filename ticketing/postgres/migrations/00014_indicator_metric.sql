-- +goose Up
-- One metric of a breakdown over a period (the grid map: volume or red
-- lights of 40,000 cells) reads only its own rows, index-only, instead of
-- every metric of every cell.
CREATE INDEX indicator_monthly_metric ON indicator_monthly (dim, metric, month, key) INCLUDE (n);
CREATE INDEX indicator_daily_metric ON indicator_daily (dim, metric, day, key) INCLUDE (n);

-- +goose Down
DROP INDEX indicator_daily_metric;
DROP INDEX indicator_monthly_metric;
