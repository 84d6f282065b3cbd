-- +goose Up
-- Work queues (ticketing.Queue), keyset-paged. Each index matches one
-- queue's WHERE and ORDER BY, so a page is an index range scan that stops
-- after LIMIT rows however many tickets there are. The planner uses a
-- partial index only when the query's WHERE implies its predicate, which
-- it can prove for constants, not parameters: Store.Queue writes the
-- states as literals in workflow order, as here (row.StatusNames(true) for
-- every open state), and any subset of a list implies the list.

-- A liaison's inbox: a department's open tickets, nearest deadline first.
CREATE INDEX tickets_open_due ON tickets (department, due_at, id)
    WHERE status IN ('received','registered','dispatched','accepted','returned','handled') AND due_at IS NOT NULL;
-- Every department's open tickets by deadline: the overdue board, the
-- verification list.
CREATE INDEX tickets_open_due_all ON tickets (due_at, id)
    WHERE status IN ('received','registered','dispatched','accepted','returned','handled') AND due_at IS NOT NULL;
-- A department's tickets in one state (its prefix serves every
-- (department, status) lookup, so it replaces tickets_department_status).
CREATE INDEX tickets_department_status_due ON tickets (department, status, due_at, id);
DROP INDEX tickets_department_status;
-- Extension requests waiting for a dispatcher: few at any time.
CREATE INDEX tickets_extension_pending ON tickets (due_at, id) WHERE extension IS NOT NULL;
-- The dispatcher's triage queue: oldest report first, every ticket that
-- waits for a dispatcher (received, registered, returned) or any of them.
CREATE INDEX tickets_triage ON tickets (received_at, id) WHERE status IN ('received','registered','returned');
-- Open tickets by receipt, of one department or all.
CREATE INDEX tickets_open_received ON tickets (department, received_at, id)
    WHERE status IN ('received','registered','dispatched','accepted','returned','handled');
CREATE INDEX tickets_open_received_all ON tickets (received_at, id)
    WHERE status IN ('received','registered','dispatched','accepted','returned','handled');

-- Who looked at personal data or acted through a desk (ticketing.AuditEntry).
-- Append-only; read newest first, by ticket or by actor.
CREATE TABLE audit_log (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL,
    actor  text NOT NULL,
    role   text NOT NULL DEFAULT '',
    action text NOT NULL,
    ticket text NOT NULL DEFAULT '',
    detail text NOT NULL DEFAULT '',
    source text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_ticket ON audit_log (ticket, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

-- Indicator tallies (ticketing.Tally): append-only deltas written in the
-- transaction of the events that cause them, so no busy counter row is
-- ever contended; RollupIndicators moves them into indicator_daily.
CREATE TABLE indicator_tallies (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    metric     text NOT NULL,
    department text NOT NULL DEFAULT '',
    district   text NOT NULL DEFAULT '',
    street     text NOT NULL DEFAULT '',
    grid       text NOT NULL DEFAULT '',
    category   text NOT NULL DEFAULT '',
    channel    text NOT NULL DEFAULT '',
    n          integer NOT NULL
);

-- Daily sums per breakdown (ticketing.Dim) and key, days in the city's
-- time zone. What the indicator pages read.
CREATE TABLE indicator_daily (
    day    date NOT NULL,
    dim    text NOT NULL,
    key    text NOT NULL,
    metric text NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (dim, day, key, metric)
);

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
