-- +goose Up
-- A WeChat citizen's tickets ("my tickets"), found by OpenID.
CREATE INDEX tickets_reporter_openid ON tickets (reporter_openid, received_at) WHERE reporter_openid <> '';

-- +goose Down
DROP INDEX tickets_reporter_openid;
