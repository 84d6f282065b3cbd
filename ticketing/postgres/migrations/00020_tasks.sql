-- +goose Up
-- The grid supervisors' open task on a case (ticketing.Ticket.Task): 核实
-- (confirm) or 核查 (inspect), its deadline and who took it.
ALTER TABLE tickets ADD COLUMN task text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN task_due timestamptz;
ALTER TABLE tickets ADD COLUMN task_by text NOT NULL DEFAULT '';
-- The supervisors' task lists, nearest deadline first.
CREATE INDEX tickets_tasks ON tickets (task_due, id) WHERE task <> '';

-- +goose Down
DROP INDEX tickets_tasks;
ALTER TABLE tickets DROP COLUMN task_by;
ALTER TABLE tickets DROP COLUMN task_due;
ALTER TABLE tickets DROP COLUMN task;
