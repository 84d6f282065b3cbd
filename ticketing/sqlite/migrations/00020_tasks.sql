-- +goose Up
-- The grid supervisors' open task on a case, as in the PostgreSQL store's
-- migration 00020; task_due is INTEGER microseconds since the Unix epoch.
ALTER TABLE tickets ADD COLUMN task text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN task_due integer;
ALTER TABLE tickets ADD COLUMN task_by text NOT NULL DEFAULT '';
CREATE INDEX tickets_tasks ON tickets (task_due, id) WHERE task <> '';

-- +goose Down
DROP INDEX tickets_tasks;
ALTER TABLE tickets DROP COLUMN task_by;
ALTER TABLE tickets DROP COLUMN task_due;
ALTER TABLE tickets DROP COLUMN task;
