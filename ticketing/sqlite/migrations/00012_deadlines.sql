-- +goose Up
-- The deadline light and its next alarm, as in the PostgreSQL store's
-- migration 00013. alarm_at is INTEGER microseconds since the Unix epoch,
-- as in 00001; NULL: no clock runs.
ALTER TABLE tickets ADD COLUMN light text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN alarm_at integer;
CREATE INDEX tickets_alarm ON tickets (alarm_at, id) WHERE alarm_at IS NOT NULL;

-- Monthly sums beside the daily ones (month: the first day, "2006-01-02").
CREATE TABLE indicator_monthly (
    month  text NOT NULL,
    dim    text NOT NULL,
    key    text NOT NULL,
    metric text NOT NULL,
    n      integer NOT NULL,
    PRIMARY KEY (dim, month, key, metric)
) WITHOUT ROWID;
INSERT INTO indicator_monthly (dim, month, key, metric, n)
SELECT dim, substr(day, 1, 8) || '01', key, metric, sum(n)
FROM indicator_daily GROUP BY 1, 2, 3, 4;

-- +goose Down
DROP TABLE indicator_monthly;
DROP INDEX tickets_alarm;
ALTER TABLE tickets DROP COLUMN alarm_at;
ALTER TABLE tickets DROP COLUMN light;
