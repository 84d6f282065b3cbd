-- +goose Up
-- The deadline light (ticketing.Ticket.Light) and when it is next due to
-- change (AlarmAt; NULL: no clock runs). The scanner (Store.Alarms) reads
-- the due alarms, earliest first, from the partial index: only tickets
-- whose clock runs are in it, a small part of the table.
ALTER TABLE tickets ADD COLUMN light text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN alarm_at timestamptz;
CREATE INDEX tickets_alarm ON tickets (alarm_at, id) WHERE alarm_at IS NOT NULL;

-- Monthly sums beside the daily ones, added to by every rollup in the same
-- statement, so a whole-month indicator page reads one row per key and
-- metric instead of thirty. month is the first day of the month in the
-- city's time zone.
CREATE TABLE indicator_monthly (
    month  date NOT NULL,
    dim    text NOT NULL,
    key    text NOT NULL,
    metric text NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (dim, month, key, metric)
);
-- Sums rolled up before this migration.
INSERT INTO indicator_monthly (dim, month, key, metric, n)
SELECT dim, date_trunc('month', day::timestamp)::date, key, metric, sum(n)
FROM indicator_daily GROUP BY 1, 2, 3, 4;

-- +goose Down
DROP TABLE indicator_monthly;
DROP INDEX tickets_alarm;
ALTER TABLE tickets DROP COLUMN alarm_at;
ALTER TABLE tickets DROP COLUMN light;
