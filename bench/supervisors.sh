#!/usr/bin/env bash
#
# supervisors.sh: staff a database's grid with supervisors for
# `yihao bench field` (BENCHMARKS.md, "The grid at scale"), without 3,000
# password hashes: each supervisor is a user with no password that can
# sign in, placed in one of the catalogue's communities in turn, with one
# API token acting for it. The tokens are printed one per line.
#
#   bench/supervisors.sh postgres://postgres@127.0.0.1:5432/yihao10m 3000 > /tmp/sup.tokens
#
# Run it again to replace the tokens (the users stay). Only for a
# benchmark database.
set -euo pipefail
db=${1:?usage: bench/supervisors.sh DATABASE_URL [N]}
n=${2:-3000}
here=$(cd "$(dirname "$0")/.." && pwd)
# The communities are the catalogue's twelve-digit area codes.
communities=$(grep -oE 'code: "[0-9]{12}"' "$here/configs/city.yaml" | grep -oE '[0-9]{12}' | paste -sd, -)
[ -n "$communities" ] || { echo "no communities in configs/city.yaml" >&2; exit 1; }
psql "$db" -v ON_ERROR_STOP=1 -qAt -v n="$n" -v communities="$communities" <<'SQL'
CREATE TEMP TABLE sup AS
SELECT format('sup.bench.%s', i) AS name,
       (string_to_array(:'communities', ','))[1 + (i - 1) % cardinality(string_to_array(:'communities', ','))] AS area,
       'yh_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '') AS secret
FROM generate_series(1, :n) AS i;
-- "!" is no password hash: nobody signs in with a password as these users.
INSERT INTO users (name, display_name, role, password_hash, area, created_at, updated_at)
SELECT name, name, 'supervisor', '!', area, now(), now() FROM sup
ON CONFLICT (name) DO UPDATE SET area = EXCLUDED.area, role = 'supervisor', disabled = false;
DELETE FROM api_tokens WHERE name = 'bench field';
INSERT INTO api_tokens (name, role, hash, created_at, user_name)
SELECT 'bench field', 'supervisor', encode(sha256(convert_to(secret, 'UTF8')), 'hex'), now(), name FROM sup;
SELECT secret FROM sup;
SQL
