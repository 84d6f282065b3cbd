#!/usr/bin/env bash
# cpu.sh: where one run's CPU goes, per ticket or push: the server, the
# PostgreSQL processes, the load client and the rest of the machine (the
# kernel's own threads, Redis, anything else running), summed from /proc
# over a window in the middle of the run. The figures of BENCHMARKS.md's
# passes that give "CPU ms per ticket" come from this.
#
#   YIHAO=/tmp/yihao bench/cpu.sh intake [N [C]]   # N reports at C workers (20000, 32)
#   YIHAO=/tmp/yihao bench/cpu.sh wechat [N [C]]   # N WeChat pushes at C workers
#
# Environment:
#   STORE=pg (default) or sqlite: the store under the server
#   REDIS=1 (wechat only): the dedup, conversations and limiter in Redis db 3
#           (keys under a prefix of this run's, deleted at the end)
#   START=2.5, WINDOW=3: the window, seconds after the load starts
#   AFTER=0: seconds to keep the server after the load (say 12, for the
#           indicator rollup, every 10 s, to fold what the run wrote)
#   PROFILE=FILE: also a Go CPU profile of the server, PSECONDS (4) long,
#           taken right after the window (make N large enough for the load
#           to last that long: 60000 at c=32)
#   EXTRA="VAR=value ...": more environment for the server (GOMAXPROCS=1, say)
#
# Output: the load client's summary, then one line
#   cpu ms/item: server S pg P client C rest R total T (machine busy B%) ctxsw/item X
# and, on PostgreSQL, the WAL the whole run wrote (the client's read-back
# and replays included) per item. Items in the window are estimated from
# the run's rate, so the window must sit inside the load: runs shorter than
# START + WINDOW give nonsense. "busy" is the window's share of both cores.
#
# The machine's speed moves by a factor of two between hours (BENCHMARKS.md,
# "A tenth pass"), and CPU per item moves with it: compare binaries only in
# alternating runs, never against another day's figure.
#
# The server runs in a temporary directory with a fresh database bench_cpu
# (created and dropped here; PostgreSQL at 127.0.0.1:5432, user postgres,
# trust authentication), no SIP listener, rate limits off, log level warn,
# its debug listener on 127.0.0.1:6061.
set -uo pipefail

what=${1:-}
n=${2:-20000} c=${3:-32}
bin=${YIHAO:-}
[ -n "$bin" ] || { echo "cpu.sh: set YIHAO to a built binary (go build -o /tmp/yihao ./cmd/yihao)" >&2; exit 2; }
case "$what" in intake | wechat) ;; *) echo "cpu.sh: intake or wechat, then [N [C]]" >&2; exit 2 ;; esac
store=${STORE:-pg}
case "$store" in pg | sqlite) ;; *) echo "cpu.sh: STORE is pg or sqlite" >&2; exit 2 ;; esac
PG=(-h 127.0.0.1 -p 5432 -U postgres)
db=bench_cpu
work=$(mktemp -d)
prefix="yihao-cpu-$$-"
server= client=

cleanup() {
	[ -n "$client" ] && kill "$client" 2>/dev/null
	[ -n "$server" ] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; }
	[ "$store" = pg ] && dropdb "${PG[@]}" --if-exists --force "$db" 2>/dev/null
	if [ -n "${REDIS:-}" ]; then
		redis-cli -n 3 --scan --pattern "$prefix*" | xargs -r redis-cli -n 3 del >/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT

env_=(YIHAO_SIP_ADDR=off YIHAO_RATE_LIMIT=0 YIHAO_LOG_LEVEL=warn YIHAO_DEBUG_ADDR=127.0.0.1:6061 YIHAO_DATA_DIR="$work/data")
if [ "$store" = pg ]; then
	dropdb "${PG[@]}" --if-exists --force "$db" 2>/dev/null
	createdb "${PG[@]}" "$db" || exit 1
	env_+=(YIHAO_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable")
fi
key=$(head -c 32 /dev/urandom | base64 -w0 | tr -d '=')
if [ "$what" = intake ]; then
	addr=127.0.0.1:8094
	env_+=(YIHAO_HTTP_ADDR=$addr)
	load=("$bin" bench intake --url "http://$addr" --n "$n" --c "$c")
else
	addr=127.0.0.1:18090
	env_+=(YIHAO_HTTP_ADDR=$addr YIHAO_WECHAT_APP_ID=wxbench YIHAO_WECHAT_TOKEN=benchtoken YIHAO_WECHAT_AES_KEY="$key")
	[ -n "${REDIS:-}" ] && env_+=(YIHAO_REDIS_URL=redis://127.0.0.1:6379/3 YIHAO_REDIS_PREFIX="$prefix")
	load=("$bin" bench wechat --url "http://$addr/wechat" --app-id wxbench --token benchtoken --aes-key "$key" --n "$n" --c "$c")
fi
# shellcheck disable=SC2206 # EXTRA is split into VAR=value words on purpose
env_+=(${EXTRA:-})

wal() { psql "${PG[@]}" -Atc "select pg_current_wal_lsn()" postgres; }
[ "$store" = pg ] && wal0=$(wal)
(cd "$work" && exec env "${env_[@]}" "$bin") >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 300); do
	curl -sf "http://$addr/readyz" >/dev/null 2>&1 && break
	kill -0 "$server" 2>/dev/null || { echo "cpu.sh: the server exited:" >&2; cat "$work/server.log" >&2; exit 1; }
	sleep 0.2
done

# ticks prints the CPU clock ticks so far of the server, of every
# PostgreSQL process, of the whole machine (busy only) and of the client,
# then the machine's context switches.
ticks() {
	local s p t l x
	s=$(awk '{print $14 + $15}' "/proc/$server/stat")
	p=$(for q in $(pgrep -x postgres); do awk '{print $14 + $15}' "/proc/$q/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}')
	t=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
	l=$(awk '{print $14 + $15}' "/proc/$client/stat")
	x=$(awk '/^ctxt/ {print $2}' /proc/stat)
	echo "$s $p $t $l $x"
}

"${load[@]}" >"$work/load.txt" 2>&1 &
client=$!
sleep "${START:-2.5}"
read -r -a a < <(ticks)
sleep "${WINDOW:-3}"
read -r -a b < <(ticks)
if [ -n "${PROFILE:-}" ]; then
	curl -s "http://127.0.0.1:6061/debug/pprof/profile?seconds=${PSECONDS:-4}" -o "$PROFILE"
fi
wait "$client"
rc=$?
client=
cat "$work/load.txt"
[ "$rc" = 0 ] || { echo "cpu.sh: the load client failed (rc $rc)" >&2; exit 1; }
sleep "${AFTER:-0}"

rate=$(awk '/^throughput/ {gsub(/[^0-9.]/, "", $2); print $2; exit}' "$work/load.txt")
hz=$(getconf CLK_TCK)
echo
awk -v s=$((b[0] - a[0])) -v p=$((b[1] - a[1])) -v t=$((b[2] - a[2])) -v l=$((b[3] - a[3])) -v x=$((b[4] - a[4])) \
	-v r="$rate" -v w="${WINDOW:-3}" -v hz="$hz" -v cores="$(nproc)" 'BEGIN {
	items = r * w; ms = 1000 / hz
	printf "cpu ms/item: server %.3f pg %.3f client %.3f rest %.3f total %.3f (machine busy %.0f%%) ctxsw/item %.1f\n",
		s * ms / items, p * ms / items, l * ms / items, (t - s - p - l) * ms / items, t * ms / items, 100 * t / (hz * w * cores), x / items
}'
if [ "$store" = pg ]; then
	psql "${PG[@]}" -Atc "select pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0')" postgres |
		awk -v n="$n" '{printf "WAL of the whole run: %.0f bytes/item (%.1f MB)\n", $1 / n, $1 / 1e6}'
fi
