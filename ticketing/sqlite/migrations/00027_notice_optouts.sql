-- +goose Up
-- Addresses whose citizens asked for no more notices (退订,
-- ticketing.OptOutStore). As in the PostgreSQL store's migration 00027;
-- at is INTEGER microseconds since the Unix epoch.
CREATE TABLE notice_optouts (
    address text PRIMARY KEY,
    via     text NOT NULL,
    at      integer NOT NULL
);

-- +goose Down
DROP TABLE notice_optouts;
