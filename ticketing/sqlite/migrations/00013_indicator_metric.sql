-- +goose Up
-- One metric of a breakdown over a period (the grid map) reads only its own rows.
CREATE INDEX indicator_monthly_metric ON indicator_monthly (dim, metric, month, key, n);
CREATE INDEX indicator_daily_metric ON indicator_daily (dim, metric, day, key, n);

-- +goose Down
DROP INDEX indicator_daily_metric;
DROP INDEX indicator_monthly_metric;
