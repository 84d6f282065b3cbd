-- +goose Up
-- Each nextval reserves a block of 100 ticket ids (see ticketing.IDBlocks).
ALTER SEQUENCE ticket_id_seq INCREMENT BY 100;

-- +goose Down
ALTER SEQUENCE ticket_id_seq INCREMENT BY 1;
