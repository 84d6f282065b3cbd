-- +goose Up
-- A local centre's desk and a supervisor's task list ask the one column of
-- their area's level, as in the PostgreSQL store's migration 00022.
CREATE INDEX tickets_district_due ON tickets (district, due_at, id);
CREATE INDEX tickets_street_due ON tickets (street, due_at, id);
CREATE INDEX tickets_street_tasks ON tickets (street, task_due, id) WHERE task <> '';
CREATE INDEX tickets_community_tasks ON tickets (community, task_due, id) WHERE task <> '';

-- +goose Down
DROP INDEX tickets_community_tasks;
DROP INDEX tickets_street_tasks;
DROP INDEX tickets_street_due;
DROP INDEX tickets_district_due;
