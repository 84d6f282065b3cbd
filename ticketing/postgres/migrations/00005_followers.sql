-- +goose Up
CREATE INDEX tickets_master ON tickets (master_id) WHERE master_id IS NOT NULL;

-- +goose Down
DROP INDEX tickets_master;
