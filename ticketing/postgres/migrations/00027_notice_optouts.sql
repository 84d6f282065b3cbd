-- +goose Up
-- Addresses whose citizens asked for no more notices (退订,
-- ticketing.OptOutStore): a phone number that replied TD.
CREATE TABLE notice_optouts (
    address text PRIMARY KEY,
    via     text NOT NULL,
    at      timestamptz NOT NULL
);

-- +goose Down
DROP TABLE notice_optouts;
