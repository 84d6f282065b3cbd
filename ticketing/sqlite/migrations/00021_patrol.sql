-- +goose Up
-- The grid supervisors on patrol, as in the PostgreSQL store's migration
-- 00021; times are INTEGER microseconds since the Unix epoch, days text.
CREATE TABLE patrol_latest (
    user_name text PRIMARY KEY,
    at        integer NOT NULL,
    lat       real NOT NULL,
    lon       real NOT NULL,
    grid      text NOT NULL,
    community text NOT NULL,
    street    text NOT NULL,
    district  text NOT NULL
) WITHOUT ROWID;
CREATE TABLE patrol_visits (
    day       text NOT NULL,
    grid      text NOT NULL,
    community text NOT NULL,
    street    text NOT NULL,
    district  text NOT NULL,
    first_at  integer NOT NULL,
    PRIMARY KEY (day, grid)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE patrol_visits;
DROP TABLE patrol_latest;
