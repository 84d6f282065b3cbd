-- +goose Up
-- A local centre's desk and a supervisor's task list, at ten million
-- tickets. The queue asks the one column of its area's level (district,
-- street or community; ticketing.QueueFilter.AreaLevel), so each index
-- below is led by that column and continues as the queue is sorted:
-- a page is a range scan of one area that stops after LIMIT rows. The
-- predicates are those of migration 00012's city-wide indexes, which the
-- queue's literal states imply.

-- A district's or street's open cases by deadline: the verification list,
-- the overdue board.
CREATE INDEX tickets_district_open_due ON tickets (district, due_at, id)
    WHERE status IN ('received','registered','dispatched','accepted','returned','handled') AND due_at IS NOT NULL;
CREATE INDEX tickets_street_open_due ON tickets (street, due_at, id)
    WHERE status IN ('received','registered','dispatched','accepted','returned','handled') AND due_at IS NOT NULL;
-- The dispatcher's lists of one state or two, by deadline: the overdue
-- board (dispatched, accepted) and the results awaiting verification
-- (handled). Apart from the index above, whose range a state filter would
-- walk (a street's returned and handled cases are mostly the most overdue).
CREATE INDEX tickets_district_working_due ON tickets (district, due_at, id) WHERE status IN ('dispatched','accepted') AND due_at IS NOT NULL;
CREATE INDEX tickets_street_working_due ON tickets (street, due_at, id) WHERE status IN ('dispatched','accepted') AND due_at IS NOT NULL;
CREATE INDEX tickets_district_handled_due ON tickets (district, due_at, id) WHERE status = 'handled' AND due_at IS NOT NULL;
CREATE INDEX tickets_street_handled_due ON tickets (street, due_at, id) WHERE status = 'handled' AND due_at IS NOT NULL;
-- A district's or street's triage, oldest report first.
CREATE INDEX tickets_district_triage ON tickets (district, received_at, id) WHERE status IN ('received','registered','returned');
CREATE INDEX tickets_street_triage ON tickets (street, received_at, id) WHERE status IN ('received','registered','returned');
-- The supervisors' tasks of a street or a community, nearest deadline first.
CREATE INDEX tickets_street_tasks ON tickets (street, task_due, id) WHERE task <> '';
CREATE INDEX tickets_community_tasks ON tickets (community, task_due, id) WHERE task <> '';

-- +goose Down
DROP INDEX tickets_community_tasks;
DROP INDEX tickets_street_tasks;
DROP INDEX tickets_street_triage;
DROP INDEX tickets_district_triage;
DROP INDEX tickets_street_handled_due;
DROP INDEX tickets_district_handled_due;
DROP INDEX tickets_street_working_due;
DROP INDEX tickets_district_working_due;
DROP INDEX tickets_street_open_due;
DROP INDEX tickets_district_open_due;
