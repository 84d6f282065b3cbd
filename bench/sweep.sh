#!/usr/bin/env bash
# shellcheck disable=SC2046 # the *_env helpers are split into VAR=value words on purpose (set -f below)
#
# sweep.sh: re-run the figures of BENCHMARKS.md, one after the other, on this
# machine, and keep every command's full output.
#
#   bench/sweep.sh                             # the whole sweep, ~30 min on 2 cores
#   ONLY="intake_pg wechat" bench/sweep.sh     # a subset (step names below)
#   BASE=<commit> bench/sweep.sh               # also control runs with that commit's binary
#   OUT=/var/tmp/bench bench/sweep.sh          # outputs elsewhere (default /tmp/yihao-bench)
#
# Steps (names for ONLY), the BENCHMARKS.md section each reproduces, and the
# rough time each takes on 2 cores:
#   intake_pg     Web intake, end to end: table, PostgreSQL rows (c=16, 32, 64
#                 on one database)                                     ~2.5 min
#   intake_sqlite Web intake, end to end: table, embedded SQLite rows  ~2.5 min
#   intake_fresh  Web intake, end to end: c=32 on a fresh PostgreSQL
#                 database, three runs                                 ~2.5 min
#   intake_base   Web intake, end to end: the control run, c=32 on a fresh
#                 database with the BASE binary (only with BASE)         ~1 min
#   pgbench       The ceiling: PostgreSQL's own commit rate (pgbench), with
#                 an intake run on each store between its runs           ~3.5 min
#   overload      Intake at four times the workers: shedding (c=128, PostgreSQL
#                 and the embedded store, each against c=32 alone)       ~2 min
#   stores        The stores alone (Go benchmarks)                     ~2.5 min
#   open311       Open311 intake                                         ~1 min
#   fuzz_exif     Photo intake (EXIF fuzzing, 30 s)                      ~1 min
#   classifier    Routing: Classifier (train, eval, benchmarks, the
#                 model comparison)                                      ~3 min
#   grid          Routing: Grid placement                                ~1 min
#   route         Routing: Routing one report                            ~1 min
#   cti           Phone: the CTI webhook                                 ~1 min
#   sipp          Phone: calls through the SIP proxy (sipp), nine rows of
#                 60 s each (three with two instances sharing agents) ~15 min
#                 (+~3 min: two more rows with BASE)
#   sipp_overload The proxy on one core, sipp on the other: its ceiling
#                 at SIP_CAP (default 1,500), then twice SIP_CAP asked
#                 for 20 s without and with sip.max_call_rate at SIP_CAP
#                 (or at the ceiling measured, when it is lower)
#                                                                        ~5 min
#   kamailio      The SIP baseline: the same sipp calls through Kamailio
#                 (bench/kamailio.sh; installs the package if missing),
#                 2,000 to 3,500 calls/s, 60 s each                      ~6 min
#   memory        The server's peak RSS with calls at SIP_FULL (default
#                 1,500) a second and intake at once (bench/memory.sh) ~1 min
#   wechat        WeChat pushes (SQLite, PostgreSQL + Redis)             ~2 min
# Plus one build of the measured code: ~20 s with a warm Go cache, a few
# minutes cold (and as much again for BASE).
#
# Not in the sweep:
#  - The desks on 10 million tickets: run it by hand with the commands in
#    BENCHMARKS.md ("The desks on 10 million tickets"); generating the data
#    (`yihao gen --tickets 10000000`) takes ~25 minutes and 12 GB.
#  - The historical comparisons in the Web intake section (figures of code that
#    is no longer there, the CPU profile shares): they have no command to re-run.
#  - Where a run's CPU goes (server, PostgreSQL, load client, the rest), per
#    ticket or push: bench/cpu.sh, in alternating runs of two binaries.
#
# Run it only in a quiet window: the load client, Yihao and the databases share
# the machine's cores, so every figure is a floor, and anything else running
# lowers it. The script warns when the load average is above 0.5 at the start.
#
# What it measures: the committed HEAD of the repository this script lives in,
# exported with `git archive` to $OUT/src and built there. Not the working
# tree, for two reasons: it may hold uncommitted edits (half-done, or not even
# compiling), so the figures would describe no commit; and the benchmarks write
# files — `classify train` rewrites configs/classifier/demo.model, `go test
# -fuzz` stores crashers under testdata/, servers create ./data — which must
# not land in a checkout. Nothing in the repository is written.
#
# BASE=<commit> (any revision git understands): that commit is exported to
# $OUT/base-src and built as $OUT/yihao-base, and control runs with its binary
# follow the HEAD runs they mirror: intake_base (intake c=32, fresh PostgreSQL
# database) and, in sipp, the ceiling rows of both stores (SQLite at 2,000/s,
# PostgreSQL + Redis at 1,500/s). Only the server binary differs: the load
# client (`yihao bench intake`) and the sipp harness are HEAD's. Runs of the
# same code on a shared VM vary by ±10% within an hour and more between days,
# so a change is only a change if it shows against BASE in the same sweep.
# Outputs of these runs end in _base.
#
# Requirements (checked before anything runs): go, git, tar, psql, createdb,
# dropdb, pgbench, redis-cli, sipp (Debian: sip-tester), curl, ss, setsid, taskset and
# python3 (the sipp harness uses it); PostgreSQL at 127.0.0.1:5432, user
# postgres, trust authentication; Redis at 127.0.0.1:6379. The Go benchmarks
# (stores, open311, cti) use the database of YIHAO_TEST_DATABASE_URL, by default
# "test" on the same server, which must exist (createdb -h 127.0.0.1 -U postgres test).
#
# Output, in $OUT: <name>.txt per command (its full output, with a header
# naming the commit and the load), <name>.server.log per server, and
# SUMMARY.txt with one line per step (rc, seconds, file).
#
# Databases: the script only creates and drops databases named bench_*; it
# never touches test, root or postgres (the Go benchmarks make and drop their
# own schema in "test"). Redis db 3 (as in BENCHMARKS.md), with a key prefix of
# its own per run, so nothing is flushed; those keys are deleted at the end.
# Servers, databases and keys are cleaned up on exit, also on Ctrl-C.

set -uo pipefail
set -f # no globbing: the env strings below carry '?' (…?sslmode=disable)

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/yihao-bench}
OUT=${OUT%/}
case "$OUT" in
*[!A-Za-z0-9/._+-]*) echo "sweep.sh: OUT may hold only letters, digits and / . _ + - (it is passed through env strings)" >&2; exit 2 ;;
/?*) ;;
*) echo "sweep.sh: OUT must be an absolute path other than / (got '${OUT:-/}')" >&2; exit 2 ;;
esac
case "$OUT/" in
"$REPO"/*) echo "sweep.sh: OUT ($OUT) must be outside the repository: the sweep writes nothing there" >&2; exit 2 ;;
esac
SRC=$OUT/src            # the snapshot of HEAD that is built and tested
BIN=$OUT/yihao          # HEAD's binary
WORK=$OUT/work          # servers run here: their ./data (media) lands here
BASE=${BASE:-}
BASE_SRC=$OUT/base-src  # with BASE: that commit's snapshot and binary
BASE_BIN=$OUT/yihao-base
PG=(-h 127.0.0.1 -p 5432 -U postgres)
PGURL=postgres://postgres@127.0.0.1:5432
REDIS=(-h 127.0.0.1 -p 6379)
REDIS_DB=3
RUN_ID=$(date -u +%Y%m%d%H%M%S)
unset MAX_CALL_RATE # only the overload rows bound the proxy (sipp_run)

STEPS="intake_pg intake_sqlite intake_fresh intake_base pgbench overload stores open311 fuzz_exif classifier grid route cti sipp sipp_overload kamailio memory wechat"
want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }

# --- requirements ------------------------------------------------------------
die() { echo "sweep.sh: $*" >&2; exit 2; }
for s in ${ONLY:-}; do
	[[ " $STEPS " == *" $s "* ]] || die "unknown step '$s' in ONLY; the steps are: $STEPS"
done
[ -n "$BASE" ] || ! [[ " ${ONLY:-} " == *" intake_base "* ]] || die "the step intake_base needs BASE=<commit>"

missing=()
for c in go git tar psql createdb dropdb pgbench redis-cli sipp curl ss setsid taskset python3; do
	command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
[ ${#missing[@]} -eq 0 ] || die "missing commands: ${missing[*]}
  needed: Go; git, tar; the PostgreSQL client tools (psql, createdb, dropdb, pgbench);
  redis-cli; sipp (Debian package sip-tester); curl; ss (iproute2); setsid and taskset (util-linux); python3"
psql "${PG[@]}" -w -d postgres -Atqc 'select 1' >/dev/null 2>&1 ||
	die "PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres without a password
  (the sweep expects trust authentication for local TCP connections)"
[ "$(redis-cli "${REDIS[@]}" ping 2>/dev/null)" = PONG ] ||
	die "Redis is not reachable at 127.0.0.1:6379 (redis-cli ping)"
if want stores || want open311 || want cti; then
	testdb=${YIHAO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
	psql -w "$testdb" -Atqc 'select 1' >/dev/null 2>&1 ||
		die "the Go benchmarks need the database of YIHAO_TEST_DATABASE_URL ($testdb);
  create it (createdb -h 127.0.0.1 -U postgres test) or point YIHAO_TEST_DATABASE_URL elsewhere"
fi
HEAD=$(git -C "$REPO" rev-parse --verify -q 'HEAD^{commit}') || die "$REPO is not a git checkout with a commit"
BASE_REV=
if [ -n "$BASE" ]; then
	BASE_REV=$(git -C "$REPO" rev-parse --verify -q "$BASE^{commit}") || die "BASE=$BASE is not a commit of $REPO"
fi

# The caller's YIHAO_* settings must not leak into the servers (env wins over
# config). YIHAO_TEST_DATABASE_URL is kept for the Go benchmarks' pgtest.
for v in $(compgen -e | grep '^YIHAO_' | grep -v '^YIHAO_TEST_DATABASE_URL$'); do unset "$v"; done

mkdir -p "$OUT" "$WORK" || exit 1
SUMMARY=$OUT/SUMMARY.txt
: >"$SUMMARY"

PIDS=()        # servers and bench.sh process groups we started
DBS=()         # bench_* databases we created
PREFIXES=()    # Redis key prefixes we used

forget_pid() { # drop a reaped pid, so cleanup never signals a reused one
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$SUMMARY"; }

# --- databases ---------------------------------------------------------------
guard_db() {
	case "$1" in
	test | root | postgres | template0 | template1) echo "refusing to touch database $1" >&2; exit 2 ;;
	bench_*) ;;
	*) echo "refusing database $1: only bench_* are throwaway" >&2; exit 2 ;;
	esac
}
fresh_db() { # drop (if left over) and create
	guard_db "$1"
	dropdb "${PG[@]}" --if-exists --force "$1" || return 1
	createdb "${PG[@]}" "$1" || return 1
	DBS+=("$1")
}
drop_db() { guard_db "$1"; dropdb "${PG[@]}" --if-exists --force "$1"; }

# --- servers -----------------------------------------------------------------
SERVER_PID=
# start_server NAME ADDR VAR=value...: runs the server (`yihao` with no command
# is `yihao serve`) in $WORK and waits for /readyz. The binary is $BIN, or
# $SERVER_BIN when set (SERVER_BIN=$BASE_BIN start_server ... for a control run).
start_server() {
	local name=$1 addr=$2 bin=${SERVER_BIN:-$BIN}
	shift 2
	port_free "${addr##*:}" || return 1
	(cd "$WORK" && exec env "$@" "$bin") >"$OUT/$name.server.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	for _ in $(seq 300); do # migrations on a fresh database take a few seconds
		curl -sf "http://$addr/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || { log "  server $name exited; see $name.server.log"; return 1; }
		sleep 0.2
	done
	log "  server $name not ready after 60 s"
	return 1
}
stop_server() { # graceful (SIGTERM, up to the 30 s shutdown timeout), then KILL
	local pid=${1:-$SERVER_PID}
	[ -n "$pid" ] || return 0
	if kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	forget_pid "$pid"
	SERVER_PID=
}
port_free() { # the previous run's processes may take a few seconds to go
	local i
	for i in $(seq 20); do
		ss -Htlnu "( sport = :$1 )" 2>/dev/null | grep -q . || return 0
		sleep 0.5
	done
	log "  port $1 is in use; skipping"
	return 1
}

cleanup() {
	local p d pr
	for p in "${PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || continue
		kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null # bench.sh runs as its own group
	done
	sleep 2
	for p in "${PIDS[@]}"; do
		kill -KILL -- "-$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	for d in "${DBS[@]}"; do drop_db "$d" 2>/dev/null; done
	for pr in "${PREFIXES[@]}"; do
		redis-cli "${REDIS[@]}" -n "$REDIS_DB" --scan --pattern "${pr}*" 2>/dev/null |
			xargs -r -n 500 redis-cli "${REDIS[@]}" -n "$REDIS_DB" del >/dev/null 2>&1
	done
	log "cleanup done (servers stopped, bench_* databases dropped, Redis prefixes removed)"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# The commits a step's output describes, for its header.
revs() { echo "HEAD $HEAD${BASE_REV:+  BASE $BASE_REV}"; }

# step NAME CMD...: run CMD, its full output to $OUT/NAME.txt with a header
step() {
	local name=$1
	shift
	local f=$OUT/$name.txt t0
	t0=$(date +%s)
	step_header "$name" "$@"
	"$@" >>"$f" 2>&1
	local rc=$?
	log "  $name: rc=$rc, $(($(date +%s) - t0)) s -> $f"
	return $rc
}

# step_header NAME CMD...: the head of NAME's output file: when, what, load.
step_header() {
	local name=$1
	shift
	{
		echo "# $name"
		echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(revs)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "# \$ $*"
		echo
	} >"$OUT/$name.txt"
}

# group_step NAME CMD...: step, with CMD run in the exported source as a
# process group of its own, which cleanup stops whole if the sweep is
# interrupted (the SIP benchmarks start servers and sipp in the background).
group_step() {
	local name=$1
	shift
	local f=$OUT/$name.txt t0 pid rc
	t0=$(date +%s)
	step_header "$name" "$@"
	(cd "$SRC" && exec setsid -w "$@") >>"$f" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait "$pid"
	rc=$?
	log "  $name: rc=$rc, $(($(date +%s) - t0)) s -> $f"
	forget_pid "$pid"
	return $rc
}

# snapshot REV DIR BINARY: export REV with git archive into DIR and build it.
snapshot() {
	local rev=$1 dir=$2 bin=$3
	rm -f "$bin"
	rm -rf "$dir" && mkdir -p "$dir" && git -C "$REPO" archive "$rev" | tar -x -C "$dir" || return 1
	log "build: go build -o $bin ./cmd/yihao (in $dir)"
	(cd "$dir" && go build -buildvcs=false -o "$bin" ./cmd/yihao) 2>&1 | tee -a "$SUMMARY"
	[ -x "$bin" ]
}

# --- start -------------------------------------------------------------------
log "bench sweep $RUN_ID started $(date -u +%Y-%m-%dT%H:%M:%SZ) in $REPO"
log "HEAD $HEAD ($(git -C "$REPO" log -1 --format='%ad %s' --date=iso "$HEAD" | cut -c1-100))"
[ -z "$BASE_REV" ] || log "BASE $BASE_REV ($(git -C "$REPO" log -1 --format='%ad %s' --date=iso "$BASE_REV" | cut -c1-100))"
dirty=$(git -C "$REPO" status --short --untracked-files=no | tr '\n' ' ')
[ -z "$dirty" ] || log "working tree has uncommitted changes NOT measured: $dirty"
log "$(go version); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
log "PostgreSQL $(psql "${PG[@]}" -Atc 'show server_version') fsync=$(psql "${PG[@]}" -Atc 'show fsync') synchronous_commit=$(psql "${PG[@]}" -Atc 'show synchronous_commit') shared_buffers=$(psql "${PG[@]}" -Atc 'show shared_buffers'); Redis $(redis-cli "${REDIS[@]}" info server | tr -d '\r' | sed -n 's/^redis_version://p'); sipp: $(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1)"
awk '{ if ($1 > 0.5) print "WARNING: load average " $1 " — the machine is not quiet; figures will be low" }' /proc/loadavg | tee -a "$SUMMARY"

# The snapshot of HEAD and its one build.
snapshot "$HEAD" "$SRC" "$BIN" || { log "build of HEAD failed"; exit 1; }
# With BASE, its build too, up front: a control that cannot build should stop
# the sweep now, not after half an hour.
if [ -n "$BASE_REV" ]; then
	if want intake_base || want sipp; then
		snapshot "$BASE_REV" "$BASE_SRC" "$BASE_BIN" || { log "build of BASE $BASE_REV failed"; exit 1; }
	else
		log "BASE is set, but neither intake_base nor sipp is in ONLY: BASE not built"
	fi
fi

# ============================================================================
# Web intake, end to end (BENCHMARKS.md "Web intake, end to end"). The server
# exactly as documented: YIHAO_RATE_LIMIT=0, log level warn, 127.0.0.1:8094;
# no YIHAO_SIP_ADDR, so it also opens SIP on :5060. Each run: 20,000 reports,
# then the read-back of every ticket and a 5% replay of the keys.
# ============================================================================
intake_env_pg() { echo "YIHAO_DATABASE_URL=$PGURL/$1?sslmode=disable YIHAO_RATE_LIMIT=0 YIHAO_LOG_LEVEL=warn YIHAO_HTTP_ADDR=127.0.0.1:8094"; }
intake_env_sqlite() { echo "YIHAO_DATA_DIR=$1 YIHAO_RATE_LIMIT=0 YIHAO_LOG_LEVEL=warn YIHAO_HTTP_ADDR=127.0.0.1:8094"; }
port_free 5060 || log "  the documented intake server also opens SIP on :5060, which is taken: intake servers will fail to start"
# The load client is always HEAD's binary, also against a BASE server.
intake() { "$BIN" bench intake --url http://127.0.0.1:8094 --n 20000 --c "$1"; }

# The table, PostgreSQL: one fresh database and one server, c=16, 32, 64 in
# turn (so the later rows run on 20,000 and 40,000 tickets already stored).
if want intake_pg; then
	log "intake table, PostgreSQL"
	if fresh_db bench_intake && start_server intake_pg 127.0.0.1:8094 $(intake_env_pg bench_intake); then
		for c in 16 32 64; do step "intake_pg_c$c" intake "$c"; done
	fi
	stop_server; drop_db bench_intake
fi

# The table, embedded SQLite: the same with a fresh data dir.
if want intake_sqlite; then
	log "intake table, SQLite"
	rm -rf "$WORK/bd"
	if start_server intake_sqlite 127.0.0.1:8094 $(intake_env_sqlite "$WORK/bd"); then
		for c in 16 32 64; do step "intake_sqlite_c$c" intake "$c"; done
	fi
	stop_server; rm -rf "$WORK/bd"
fi

# c=32 on a fresh database, three times: the section's repeated runs (each on a
# fresh database, so the table's growth does not enter).
if want intake_fresh; then
	log "intake c=32 on fresh PostgreSQL x3"
	for i in 1 2 3; do
		if fresh_db bench_intake && start_server "intake_fresh$i" 127.0.0.1:8094 $(intake_env_pg bench_intake); then
			step "intake_pg_fresh_c32_run$i" intake 32
		fi
		stop_server; drop_db bench_intake
	done
fi

# With BASE: the control run, the same command with BASE's server on a fresh
# database, right after.
if [ -n "$BASE_REV" ] && want intake_base; then
	log "intake c=32 on fresh PostgreSQL, BASE binary (control)"
	if fresh_db bench_intake && SERVER_BIN=$BASE_BIN start_server intake_base 127.0.0.1:8094 $(intake_env_pg bench_intake); then
		step intake_pg_fresh_c32_base intake 32
	fi
	stop_server; drop_db bench_intake
fi

# ============================================================================
# The ceiling: PostgreSQL's own commit rate in the same run (BENCHMARKS.md
# "The ceiling"): pgbench, then an intake run on a fresh database, then the
# first pgbench again, back to back with the same 32 clients.
# init -s 10 (~15 s), 3 x 30 s of pgbench, one intake run.
# ============================================================================
if want pgbench; then
	log "pgbench ceiling"
	echo "INSERT INTO commits (at, payload) VALUES (now(), repeat('x', 200));" >"$OUT/commit.sql"
	if fresh_db bench_pgb; then
		step pgbench_0_init pgbench "${PG[@]}" -i -s 10 -q bench_pgb
		psql "${PG[@]}" bench_pgb -c 'CREATE TABLE commits (id bigserial primary key, at timestamptz, payload text)' >/dev/null
		step pgbench_1_commits pgbench "${PG[@]}" -c 32 -j 2 -T 30 -n -f "$OUT/commit.sql" bench_pgb
		step pgbench_2_tpcb_N pgbench "${PG[@]}" -c 32 -j 2 -T 30 -N bench_pgb
		if fresh_db bench_intake && start_server pgbench_intake 127.0.0.1:8094 $(intake_env_pg bench_intake); then
			step pgbench_3_intake_c32 intake 32
		fi
		stop_server; drop_db bench_intake
		rm -rf "$WORK/pgb-sqlite"
		if start_server pgbench_intake_sqlite 127.0.0.1:8094 $(intake_env_sqlite "$WORK/pgb-sqlite"); then
			step pgbench_3_intake_sqlite_c32 intake 32
		fi
		stop_server; rm -rf "$WORK/pgb-sqlite"
		step pgbench_4_commits_again pgbench "${PG[@]}" -c 32 -j 2 -T 30 -n -f "$OUT/commit.sql" bench_pgb
	fi
	drop_db bench_pgb
fi

# ============================================================================
# Overload (BENCHMARKS.md "Overload"): 128 workers where 32 fill the
# instance. Past intake_max_inflight a report waits intake_max_wait and is
# answered 503 with Retry-After: 1; the client retries it with its key. The
# admitted attempts' latency should stay that of c=32 on the same server.
# ============================================================================
overload() { "$BIN" bench intake --url http://127.0.0.1:8094 --n 20000 --c "$1" --retries 30; }
if want overload; then
	log "intake overload"
	if fresh_db bench_intake && start_server overload_pg 127.0.0.1:8094 $(intake_env_pg bench_intake); then
		step overload_pg_c32 overload 32
		step overload_pg_c128 overload 128
	fi
	stop_server; drop_db bench_intake
	rm -rf "$WORK/ov-sqlite"
	if start_server overload_sqlite 127.0.0.1:8094 $(intake_env_sqlite "$WORK/ov-sqlite"); then
		step overload_sqlite_c32 overload 32
		step overload_sqlite_c128 overload 128
	fi
	stop_server; rm -rf "$WORK/ov-sqlite"
fi

# ============================================================================
# Go benchmarks, run in the snapshot with the commands of BENCHMARKS.md. The
# PostgreSQL ones use pgtest: a throwaway schema in the database of
# YIHAO_TEST_DATABASE_URL ("test" by default), dropped by the test itself.
# go test runs the benchmarks of several packages one package at a time.
# ============================================================================

# The stores alone: Service.Submit, 3 x 20,000 submits per store.
want stores && { log "the stores alone: Service.Submit"
	step go_submit bash -c "cd $SRC && go test -run xxx -bench Submit -benchtime 20000x -count 3 ./ticketing/postgres ./ticketing/sqlite"; }

# Open311 intake: 2 stores x 2 runs x 3,000 requests.
want open311 && { log "Open311 PostRequest"
	step go_open311 bash -c "cd $SRC && go test -run '^\$' -bench PostRequest -benchtime 3000x -count 2 ./channels/open311/"; }

# Photo intake: 30 s of EXIF fuzzing on all cores. A crasher would be written
# into the snapshot's testdata, not into the repository.
want fuzz_exif && { log "EXIF fuzzing, 30 s"
	step go_fuzz_exif bash -c "cd $SRC && go test -run xxx -fuzz FuzzReadEXIF -fuzztime 30s ./media"; }

# Routing, the classifier: train + eval ~10 s, Predict|Train ~20 s,
# TestExperiment (every model variant x 3 seeds, 5-fold CV each) ~1.5-2 min.
# `go run ./cmd/yihao` of the documented commands is the same binary, built
# once. train rewrites the snapshot's configs/classifier/demo.model, as
# documented; the result is compared with the committed model.
if want classifier; then
	log "classifier"
	step classify_train bash -c "cd $SRC && cp configs/classifier/demo.model $OUT/demo.model.committed && $BIN classify train --in configs/classifier/train.csv --out configs/classifier/demo.model && ls -l configs/classifier/demo.model && (cmp -s configs/classifier/demo.model $OUT/demo.model.committed && echo 'model: byte-identical to the committed one' || echo 'model: differs from the committed one')"
	step classify_eval bash -c "cd $SRC && $BIN classify eval --model configs/classifier/demo.model --in configs/classifier/heldout.csv"
	step classify_bench bash -c "cd $SRC && go test -run xxx -bench 'Predict|Train' -benchtime 2s ./routing/classify"
	step classify_experiment bash -c "cd $SRC && YIHAO_EXP=1 go test ./routing/classify -run TestExperiment -v -count=1"
fi

# Routing, grid placement: Locate, loading 40,000 cells, the gazetteer.
want grid && { log "grid placement"
	step go_grid bash -c "cd $SRC && go test -run '^\$' -bench . -benchmem ./routing/grid"; }

# Routing one report: keyword rules only, and the full router.
want route && { log "Router.Route"
	step go_route bash -c "cd $SRC && go test -run xxx -bench Route -benchmem ./routing"; }

# Phone, the CTI webhook: 2 stores x 3 s.
want cti && { log "CTI webhook"
	step go_cti_webhook bash -c "cd $SRC && go test ./channels/hotline -run '^\$' -bench Webhook -benchtime 3s"; }

# ============================================================================
# Phone: calls through the SIP proxy (BENCHMARKS.md "Phone: calls through the
# SIP proxy (sipp)"). The snapshot's channels/hotline/testdata/sipp/bench.sh
# runs with YIHAO=<binary> (so it does not build), in its own process group.
# It fixes its ports: 25060 (SIP), 28080 (HTTP), 27001 (the agents' phones).
# PostgreSQL rows: a fresh bench_sip database per run (bench.sh counts the
# call log of the last hour, so a reused database would count earlier runs)
# and a Redis key prefix of its own per run, on redis://127.0.0.1:6379/3 as
# documented. Per run: ~30 s of setup (server, 100 `agent add`,
# registrations), then CALLS/RATE seconds of calls.
# ============================================================================
sipp_run() { # NAME RATE CALLS sqlite|pg|pg2 [BINARY, default $BIN]; pg2: two instances sharing the agents
	local name=$1 rate=$2 calls=$3 store=$4 bin=${5:-$BIN}
	port_free 25060 && port_free 28080 && port_free 27001 && port_free 25061 && port_free 28081 || return 1
	local envs=(YIHAO="$bin" MAX_CALL_RATE="${MAX_CALL_RATE:--1}")
	if [ "$store" = pg2 ]; then
		envs+=(INSTANCES=2)
		store=pg
	fi
	if [ "$store" = pg ]; then
		fresh_db bench_sip || return 1
		local prefix="yihao-bench-$RUN_ID-$name:"
		PREFIXES+=("$prefix")
		envs+=(YIHAO_DATABASE_URL="$PGURL/bench_sip?sslmode=disable" YIHAO_REDIS_URL="redis://127.0.0.1:6379/$REDIS_DB" YIHAO_REDIS_PREFIX="$prefix")
	fi
	local rc
	group_step "$name" ${PIN:-} env "${envs[@]}" sh channels/hotline/testdata/sipp/bench.sh "$rate" "$calls"
	rc=$?
	[ "$store" != pg ] || drop_db bench_sip
	return $rc
}
if want sipp; then
	log "sipp through the SIP proxy"
	# 60 s of calls each, as the issue's target asks (and kamailio_run).
	# Since the line claims agents in batches (2026-12-07, the fifteenth
	# pass) every store kept 2,800 by hand and none 3,200, so each row set
	# shows where it stops.
	sipp_run sipp_sqlite_r2400_144k 2400 144000 sqlite # ~80 s
	sipp_run sipp_sqlite_r2800_168k 2800 168000 sqlite # ~85 s
	sipp_run sipp_sqlite_r3200_192k 3200 192000 sqlite # ~90 s (above the ceiling; longer when it falls behind)
	[ -z "$BASE_REV" ] || sipp_run sipp_sqlite_r2400_144k_base 2400 144000 sqlite "$BASE_BIN"
	sipp_run sipp_pg_r2400_144k 2400 144000 pg # ~80 s
	sipp_run sipp_pg_r2800_168k 2800 168000 pg # ~85 s
	sipp_run sipp_pg_r3200_192k 3200 192000 pg # ~90 s (above the ceiling)
	[ -z "$BASE_REV" ] || sipp_run sipp_pg_r2400_144k_base 2400 144000 pg "$BASE_BIN"
	sipp_run sipp_pg2_r2400_144k 2400 144000 pg2 # ~80 s: two instances, half the callers each
	sipp_run sipp_pg2_r2800_168k 2800 168000 pg2 # ~85 s
	sipp_run sipp_pg2_r3200_192k 3200 192000 pg2 # ~90 s
fi
# Overload: the server pinned to CPU 0 and the harness (sipp) to CPU 1, so
# that twice the server's capacity can be asked at all (on two shared cores
# sipp's own work at twice the rate took the cores the proxy needed). Its
# ceiling at SIP_CAP (default 1,500, what one core of this machine took on
# 2026-12-06) asked, then twice SIP_CAP asked for 20 s without a bound and
# with sip.max_call_rate at SIP_CAP; the callers (caller_shed.xml) take a
# 503 as an answer. Unbounded, the proxy takes some 80 s over the 20 s of
# calls, inside the callers' 120 s limit.
if want sipp_overload; then
	log "sipp: overload, the server on one core"
	printf '#!/bin/sh\nexec taskset -c 0 "%s" "$@"\n' "$BIN" >"$WORK/yihao-cpu0"
	chmod +x "$WORK/yihao-cpu0"
	cap=${SIP_CAP:-1500}
	PIN="taskset -c 1" sipp_run "sipp_over_sqlite_r${cap}_ceiling" "$cap" $((30 * cap)) sqlite "$WORK/yihao-cpu0" # ~60 s
	# A bound above what the core takes protects nothing (a slow day's core
	# took 877 of 1,500): past SIP_CAP, the bound is the ceiling just
	# measured, to the 50 below.
	got=$(awk -F'|' '/Call Rate/ { gsub(/[^0-9.]/, "", $3); print int($3 / 50) * 50; exit }' "$OUT/sipp_over_sqlite_r${cap}_ceiling.txt" 2>/dev/null)
	if [ -n "$got" ] && [ "$got" -gt 0 ] && [ "$got" -lt "$cap" ]; then
		log "  the ceiling is below SIP_CAP=$cap: bound and rates from $got"
		cap=$got
	fi
	PIN="taskset -c 1" sipp_run "sipp_over_sqlite_r$((2 * cap))_none" $((2 * cap)) $((20 * 2 * cap)) sqlite "$WORK/yihao-cpu0" # ~110 s
	PIN="taskset -c 1" MAX_CALL_RATE=$cap sipp_run "sipp_over_sqlite_r$((2 * cap))_cap$cap" $((2 * cap)) $((20 * 2 * cap)) sqlite "$WORK/yihao-cpu0" # ~50 s
fi

# ============================================================================
# The SIP baseline (BENCHMARKS.md "Speed at the limit"): Kamailio from the
# distribution as registrar and record-routing proxy, the same sipp callers
# and agents' phones (bench/kamailio.sh; ports 25070 and 27071). 60 s of
# calls per rate. The ratio divides by its best run with 0 failed; on the
# 2-core machine that lay between 2,500 and 2,750 asked (BENCHMARKS.md "A
# seventh pass"), so the rates are closest there.
# ============================================================================
kamailio_run() { # NAME RATE
	port_free 25070 && port_free 27071 || return 1
	group_step "$1" sh bench/kamailio.sh "$2" $(($2 * 60))
}
if want kamailio; then
	log "Kamailio, the SIP baseline"
	for r in 2000 2500 2750 3000 3500; do kamailio_run "kamailio_r$r" "$r"; done
fi

# ============================================================================
# Memory at full load (BENCHMARKS.md "A fourth pass"): calls at SIP_FULL
# (default 1,500) a second for 40 s on the embedded store, and intake
# against the same instance from the sixth second (bench/memory.sh, on
# bench.sh's ports); the server's peak RSS.
# ============================================================================
if want memory; then
	log "memory at full call and intake load"
	full=${SIP_FULL:-1500}
	if port_free 25060 && port_free 28080 && port_free 27001; then
		group_step "memory_sqlite_r$full" env YIHAO="$BIN" sh bench/memory.sh "$full" $((40 * full))
	fi
fi

# ============================================================================
# WeChat pushes (BENCHMARKS.md "WeChat pushes"). The server as documented (no
# YIHAO_LOG_LEVEL, no YIHAO_RATE_LIMIT: the web limiter does not apply to
# WeChat), plus what the documented command leaves to the reader: a fresh data
# dir for the SQLite row; a fresh database, Redis db 3 and a prefix of its own
# for the PostgreSQL + Redis row. KEY: 32 random bytes, base64 without the '='
# (43 characters). Per row: 20,000 pushes at c=32 plus start-up.
# ============================================================================
KEY=$(head -c 32 /dev/urandom | base64 -w0 | tr -d '=')
wx_env() { echo "YIHAO_SIP_ADDR=off YIHAO_HTTP_ADDR=127.0.0.1:18090 YIHAO_WECHAT_APP_ID=wxbench YIHAO_WECHAT_TOKEN=benchtoken YIHAO_WECHAT_AES_KEY=$KEY"; }
wx_bench() { "$BIN" bench wechat --url http://127.0.0.1:18090/wechat --app-id wxbench --token benchtoken --aes-key "$KEY" --n 20000 --c 32; }
if want wechat; then
	log "WeChat pushes"
	rm -rf "$WORK/wx-sqlite"
	if start_server wechat_sqlite 127.0.0.1:18090 $(wx_env) YIHAO_DATA_DIR="$WORK/wx-sqlite"; then
		step wechat_sqlite wx_bench
	fi
	stop_server; rm -rf "$WORK/wx-sqlite"

	prefix="yihao-bench-$RUN_ID-wechat:"
	PREFIXES+=("$prefix")
	rm -rf "$WORK/wx-pg"
	if fresh_db bench_wechat && start_server wechat_pg_redis 127.0.0.1:18090 $(wx_env) YIHAO_DATA_DIR="$WORK/wx-pg" \
		YIHAO_DATABASE_URL="$PGURL/bench_wechat?sslmode=disable" YIHAO_REDIS_URL="redis://127.0.0.1:6379/$REDIS_DB" YIHAO_REDIS_PREFIX="$prefix"; then
		step wechat_pg_redis wx_bench
	fi
	stop_server; drop_db bench_wechat; rm -rf "$WORK/wx-pg"
fi

# ============================================================================
# Ratios (BENCHMARKS.md "Speed at the limit"): each figure against its
# reference measured minutes apart in this sweep, into $OUT/RATIOS.txt.
# ============================================================================
field() { # FILE AWK-PATTERN FIELD: the first match's field, digits only
	[ -f "$OUT/$1.txt" ] && awk -v f="$3" "$2"' { gsub(/[^0-9.]/, "", $f); print $f; exit }' "$OUT/$1.txt"
}
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }
rm -f "$OUT/RATIOS.txt"
ratios_header() {
	[ -s "$OUT/RATIOS.txt" ] || {
		echo "# ratios, $(revs), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "| work | Yihao | reference | ratio | target |"
		echo "|---|---|---|---|---|"
	} >"$OUT/RATIOS.txt"
}
if want pgbench; then
	ratios_header
	{
		pgb1=$(field pgbench_1_commits '/^tps = /' 3)
		pgb2=$(field pgbench_4_commits_again '/^tps = /' 3)
		pgb=$(awk -v a="${pgb1:-0}" -v b="${pgb2:-0}" 'BEGIN { n = (a > 0) + (b > 0); if (n) printf "%.0f", (a + b) / n }')
		web=$(field pgbench_3_intake_c32 '/^throughput/' 2)
		p99=$(field pgbench_3_intake_c32 '/^latency p99/' 3)
		echo "| intake on PostgreSQL, c=32 (p99 ${p99:-?} ms) | ${web:-?}/s | pgbench one-row commits, 32 clients, mean of the runs before and after: ${pgb:-?} tps | $(ratio "$web" "$pgb") | ≥ 0.30, p99 ≤ 20 ms |"
		sq=$(field pgbench_3_intake_sqlite_c32 '/^throughput/' 2)
		sqp99=$(field pgbench_3_intake_sqlite_c32 '/^latency p99/' 3)
		echo "| intake on the embedded store, c=32 (p99 ${sqp99:-?} ms) | ${sq:-?}/s | 2,500/s | $(ratio "$sq" 2500) | ≥ 1 |"
	} >>"$OUT/RATIOS.txt"
fi
# The highest call rate sipp completed with no failed call, over the runs
# whose names start with PREFIX: "rate name".
best_cps() {
	local f name rate failed best=0 which=-
	for f in $(find "$OUT" -maxdepth 1 -name "$1*.txt" | sort); do
		name=$(basename "$f" .txt)
		case "$name" in *_base) continue ;; esac
		rate=$(awk -F'|' '/Call Rate/ { r = $3 } END { gsub(/[^0-9.]/, "", r); print r }' "$f")
		failed=$(awk -F'|' '/Failed call/ { n = $3 } END { gsub(/[^0-9]/, "", n); print n }' "$f")
		if [ "${failed:-1}" = 0 ] && [ -n "$rate" ] && awk -v a="$rate" -v b="$best" 'BEGIN { exit !(a > b) }'; then
			best=$rate which=$name
		fi
	done
	echo "$best $which"
}
if want sipp && want kamailio; then
	set -- $(best_cps kamailio_r)
	kam=$1 kamrun=$2
	set -- $(best_cps sipp_sqlite_)
	sq=$1 sqrun=$2
	set -- $(best_cps sipp_pg_)
	pg=$1 pgrun=$2
	set -- $(best_cps sipp_pg2_)
	pg2=$1 pg2run=$2
	ratios_header
	{
		echo "| calls through the SIP proxy, embedded store ($sqrun) | $sq calls/s, 0 failed | Kamailio, 0 failed ($kamrun): $kam calls/s | $(ratio "$sq" "$kam") | ≥ 0.60 |"
		echo "| calls through the SIP proxy, PostgreSQL + Redis ($pgrun) | $pg calls/s, 0 failed | the same | $(ratio "$pg" "$kam") | ≥ 0.60 |"
		echo "| the same, two instances sharing the agents ($pg2run) | $pg2 calls/s, 0 failed | the same | $(ratio "$pg2" "$kam") | ≥ 0.60 |"
	} >>"$OUT/RATIOS.txt"
fi
# Overload: the calls answered a second at twice SIP_CAP asked (the call
# log's answered calls over the run's length, calls made / sipp's rate),
# against the embedded store's best run with no failed call.
answered_cps() { # RUN
	awk -F'|' '/Call Rate/ { r = $3 } /Successful call/ { n = $3 } /Failed call/ { f = $3 }
		/^call log:/ { split($0, w, " "); a = w[5] }
		END { gsub(/[^0-9.]/, "", r); gsub(/[^0-9]/, "", n); gsub(/[^0-9]/, "", f)
			if (r + 0 > 0 && n + f > 0) printf "%.0f", a * r / (n + f) }' "$OUT/$1.txt" 2>/dev/null
}
if want sipp_overload; then
	set -- $(best_cps "sipp_over_sqlite_r*_ceiling")
	sq=$1 sqrun=$2
	ratios_header
	for f in $(find "$OUT" -maxdepth 1 -name 'sipp_over_sqlite_*.txt' ! -name '*_ceiling.txt' | sort); do
		run=$(basename "$f" .txt)
		got=$(answered_cps "$run")
		refused=$(sed -n 's/^refused past max_call_rate: //p' "$f")
		echo "| calls answered at twice SIP_CAP asked, the proxy on one core ($run; ${refused:-?} refused 503) | ${got:-?} calls/s | its ceiling on that core ($sqrun): $sq calls/s | $(ratio "$got" "$sq") | ≈ 1 (full rate) |"
	done >>"$OUT/RATIOS.txt"
fi
if want memory; then
	ratios_header
	for f in $(find "$OUT" -maxdepth 1 -name 'memory_sqlite_*.txt' | sort); do
		run=$(basename "$f" .txt)
		rss=$(sed -n 's/^peak RSS \([0-9]*\) MiB.*/\1/p' "$f")
		cps=$(awk -F'|' '/Call Rate/ { r = $3 } END { gsub(/[^0-9.]/, "", r); print r }' "$f")
		web=$(awk '/^throughput/ { sub(/\/s$/, "", $2); print $2 }' "$f")
		echo "| peak RSS at full call and intake load ($run: ${cps:-?} calls/s, ${web:-?} tickets/s) | ${rss:-?} MiB | 256 MiB | $(ratio "$rss" 256) | ≤ 1 |"
	done >>"$OUT/RATIOS.txt"
fi
[ -f "$OUT/RATIOS.txt" ] && tee -a "$SUMMARY" <"$OUT/RATIOS.txt"

log "not in the sweep: the desks on 10 million tickets (run by hand with the commands in BENCHMARKS.md; the data takes ~25 min and 12 GB)"
log "bench sweep finished $(date -u +%Y-%m-%dT%H:%M:%SZ); outputs in $OUT"
