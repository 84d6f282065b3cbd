-- +goose Up
-- Work queues (ticketing.Queue), keyset-paged, as in the PostgreSQL store's
-- migration 00012. SQLite uses a partial index only when the query repeats
-- its predicate, so Store.Queue writes the open states as these do.
CREATE INDEX tickets_open_due ON tickets (department, due_at, id)
    WHERE status IN ('received','registered','dispatched','accepted','returned','handled') AND due_at IS NOT NULL;
CREATE INDEX tickets_open_due_all ON tickets (due_at, id)
    WHERE status IN ('received','registered','dispatched','accepted','returned','handled') AND due_at IS NOT NULL;
CREATE INDEX tickets_department_status_due ON tickets (department, status, due_at, id);
DROP INDEX tickets_department_status;
CREATE INDEX tickets_extension_pending ON tickets (due_at, id) WHERE extension IS NOT NULL;
CREATE INDEX tickets_triage ON tickets (received_at, id) WHERE status IN ('received','registered','returned');
CREATE INDEX tickets_open_received ON tickets (department, received_at, id)
    WHERE status IN ('received','registered','dispatched','accepted','returned','handled');
CREATE INDEX tickets_open_received_all ON tickets (received_at, id)
    WHERE status IN ('received','registered','dispatched','accepted','returned','handled');

-- Who looked at personal data or acted through a desk (ticketing.AuditEntry).
-- Times are INTEGER microseconds since the Unix epoch, as in 00001.
CREATE TABLE audit_log (
    id     integer PRIMARY KEY AUTOINCREMENT,
    at     integer NOT NULL,
    actor  text NOT NULL,
    role   text NOT NULL DEFAULT '',
    action text NOT NULL,
    ticket text NOT NULL DEFAULT '',
    detail text NOT NULL DEFAULT '',
    source text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_ticket ON audit_log (ticket, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

-- Indicator tallies (ticketing.Tally), written with the events that cause
-- them and folded into indicator_daily by RollupIndicators.
CREATE TABLE indicator_tallies (
    id         integer PRIMARY KEY,
    at         integer NOT NULL,
    metric     text NOT NULL,
    department text NOT NULL DEFAULT '',
    district   text NOT NULL DEFAULT '',
    street     text NOT NULL DEFAULT '',
    grid       text NOT NULL DEFAULT '',
    category   text NOT NULL DEFAULT '',
    channel    text NOT NULL DEFAULT '',
    n          integer NOT NULL
);

-- Daily sums per breakdown and key; day is the civil date in the city's
-- time zone, 'YYYY-MM-DD'.
CREATE TABLE indicator_daily (
    day    text NOT NULL,
    dim    text NOT NULL,
    key    text NOT NULL,
    metric text NOT NULL,
    n      integer NOT NULL,
    PRIMARY KEY (dim, day, key, metric)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE indicator_daily;
DROP TABLE indicator_tallies;
DROP TABLE audit_log;
DROP INDEX tickets_open_received_all;
DROP INDEX tickets_open_received;
DROP INDEX tickets_triage;
DROP INDEX tickets_extension_pending;
CREATE INDEX tickets_department_status ON tickets (department, status);
DROP INDEX tickets_department_status_due;
DROP INDEX tickets_open_due_all;
DROP INDEX tickets_open_due;
