-- +goose Up
-- The grid supervisors on patrol (ticketing.PatrolStore): each one's
-- latest position, and the cells visited each day.
CREATE TABLE patrol_latest (
    user_name text PRIMARY KEY,
    at        timestamptz NOT NULL,
    lat       double precision NOT NULL,
    lon       double precision NOT NULL,
    grid      text NOT NULL,
    community text NOT NULL,
    street    text NOT NULL,
    district  text NOT NULL
);
CREATE TABLE patrol_visits (
    day       date NOT NULL,
    grid      text NOT NULL,
    community text NOT NULL,
    street    text NOT NULL,
    district  text NOT NULL,
    first_at  timestamptz NOT NULL,
    PRIMARY KEY (day, grid)
);

-- +goose Down
DROP TABLE patrol_visits;
DROP TABLE patrol_latest;
