#!/bin/sh
# bench.sh: calls per second through Yihao's SIP proxy, with sipp as the
# callers and as the agents' phones, and the call log checked afterwards.
#
#   channels/hotline/testdata/sipp/bench.sh [RATE [CALLS]]
#
# RATE calls a second (default 1000), CALLS in all (default 20000). Each
# call: INVITE → 180 → 200 → ACK → BYE → 200 through the proxy, the ACD
# picking one of AGENTS (default 100) registered agents, three call-log
# events stored. Environment: YIHAO_DATABASE_URL and YIHAO_REDIS_URL as for
# the server (default: the embedded store, in-process presence); YIHAO, a
# built binary (default: built here); INSTANCES=2 (with both URLs) runs a
# second instance on them, and half the callers call through it;
# MAX_CALL_RATE, the proxy's sip.max_call_rate on each instance (default -1,
# none: the sweep measures the ceiling; 0 is the server's default), and with
# a bound the callers accept a 503 (caller_shed.xml). Prints sipp's summary, then what the call log holds:
# every call answered, none lost; the calls refused past the rate; and the
# calls still open, which is 0 when every caller's BYE reached the proxy.
set -eu
RATE=${1:-1000}
CALLS=${2:-20000}
AGENTS=${AGENTS:-100}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
# The servers are waited for: one still writing the hangups of the calls it
# cut would write them into the next run's fresh database.
trap 'kill $(cat "$work"/pids 2>/dev/null) 2>/dev/null || true; wait; rm -rf "$work"' EXIT
bin=${YIHAO:-$work/yihao}
[ -n "${YIHAO:-}" ] || (cd "$here/../../../.." && go build -o "$bin" ./cmd/yihao)

sip=127.0.0.1:25060 http=127.0.0.1:28080 phones=27001
# No per-source limit (sipp is one source) and no bound on the waiting line: the
# sweep measures what the proxy completes past its capacity too, where calls queue.
cat > "$work/bench.yaml" <<CONF
data_dir: $work/data
log_level: warn
sip: {addr: "$sip", rate_limit_per_minute: -1, queue_wait: 30s, max_queued: 1000000, max_call_rate: ${MAX_CALL_RATE:--1}}
CONF
export YIHAO_CONFIG="$work/bench.yaml" YIHAO_METRICS_TOKEN=bench-metrics-token-0000
[ "${MAX_CALL_RATE:--1}" -le 0 ] || export CALLER_XML=caller_shed.xml
export YIHAO_HTTP_ADDR=$http YIHAO_RATE_LIMIT=0
"$bin" serve >"$work/out.log" 2>"$work/err.log" &
echo $! >>"$work/pids"
for _ in $(seq 50); do curl -sf "http://$http/readyz" >/dev/null && break; sleep 0.2; done
if [ "${INSTANCES:-1}" = 2 ]; then
	# A second instance on the same database and Redis: the agents register
	# with the first, and the second hands its callers to them through the
	# shared presence.
	[ -n "${YIHAO_DATABASE_URL:-}" ] && [ -n "${YIHAO_REDIS_URL:-}" ] || { echo "INSTANCES=2 needs YIHAO_DATABASE_URL and YIHAO_REDIS_URL" >&2; exit 2; }
	sed "s/$sip/127.0.0.1:25061/" "$work/bench.yaml" >"$work/bench2.yaml"
	YIHAO_CONFIG="$work/bench2.yaml" YIHAO_HTTP_ADDR=127.0.0.1:28081 "$bin" serve >"$work/out2.log" 2>"$work/err2.log" &
	echo $! >>"$work/pids"
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:28081/readyz" >/dev/null && break; sleep 0.2; done
	export SIP2=127.0.0.1:25061
fi

for i in $(seq 1 "$AGENTS"); do
	"$bin" agent add --ext "$((5000 + i))" --password "bench-agent-$i" >/dev/null
done
sippdir=$here
. "$here/calls.sh"
drive_calls "$sip" "$phones" "$work"
sleep 1
token=$("$bin" token create --role admin 2>/dev/null | tail -1)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ -d '+1 minute')
since=$(date -u +%Y-%m-%dT%H:%M:%SZ -d '-1 hour')
curl -s -H "Authorization: Bearer $token" "http://$http/api/v1/hotline/stats?from=$since&to=$now" |
	python3 -c 'import json,sys; t=json.load(sys.stdin)["total"]; print("call log: %d offered, %d answered, %d abandoned" % (t["offered"], t["answered"], t["abandoned"]))'
for h in "$http" ${SIP2:+127.0.0.1:28081}; do
	curl -s -H "Authorization: Bearer $YIHAO_METRICS_TOKEN" "http://$h/metrics"
done | awk '/^yihao_sip_refused_total\{reason="overload"\}/ { n += $2 }
	/^yihao_hotline_active_calls / { a += $2 }
	END { printf "refused past max_call_rate: %d\ncalls still open (answered, no BYE seen): %d\n", n, a }'
