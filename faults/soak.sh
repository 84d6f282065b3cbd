#!/bin/sh
# soak.sh: an hour (or MINUTES) of steady load on every door at once, with
# the process's memory and goroutines sampled every minute, to show they
# stay flat. Not part of `make test`; the report of a run is SOAK.md.
#
#   faults/soak.sh [MINUTES]
#
# Load: web API 10 reports/s, WeChat 5 pushes/s (safe mode), SIP 5 calls/s
# (1 s of talk each, 20 agents). WEB_RATE, WECHAT_RATE, CALL_RATE, TALK_MS
# and AGENTS change it (the issue's "half load", about half of what one
# instance takes at most: WEB_RATE=600 WECHAT_RATE=200 CALL_RATE=700
# TALK_MS=100 AGENTS=200).
# YIHAO_DATABASE_URL and YIHAO_REDIS_URL select PostgreSQL and Redis as for
# the server (default: embedded store). If calls failed, sipp's error log is
# kept in SOAK_ERRORS (default /tmp/soak-sipp-errors.log).
set -eu
MIN=${1:-60}
WEB_RATE=${WEB_RATE:-10} WECHAT_RATE=${WECHAT_RATE:-5} CALL_RATE=${CALL_RATE:-5} TALK_MS=${TALK_MS:-1000}
AGENTS=${AGENTS:-20}
# Workers enough for the rate at tens of milliseconds a request.
web_c=$((WEB_RATE / 20 + 4)) wechat_c=$((WECHAT_RATE / 20 + 4))
root=$(cd "$(dirname "$0")/.." && pwd)
sipp_dir="$root/channels/hotline/testdata/sipp"
work=$(mktemp -d)
trap 'kill $(cat "$work"/pids 2>/dev/null) 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/yihao" ./cmd/yihao)
bin=$work/yihao
http=127.0.0.1:28190 sip=127.0.0.1:25160 phones=27101
key=$(head -c 32 /dev/urandom | base64 | tr -d '=' | head -c 43)
cat >"$work/soak.yaml" <<CONF
data_dir: $work/data
log_level: warn
rate_limit_per_minute: 0
sip: {addr: "$sip", rate_limit_per_minute: 0, queue_wait: 30s, max_expires: 2h, max_call_rate: -1}
wechat: {app_id: wxsoak, token: soaktoken, aes_key: "$key"}
CONF
export YIHAO_CONFIG="$work/soak.yaml" YIHAO_HTTP_ADDR=$http YIHAO_METRICS_TOKEN=soak-metrics-token-0000
"$bin" serve >"$work/out.log" 2>"$work/err.log" &
echo $! >>"$work/pids"
for _ in $(seq 50); do curl -sf "http://$http/readyz" >/dev/null && break; sleep 0.2; done

echo SEQUENTIAL >"$work/agents.csv"
for i in $(seq 1 "$AGENTS"); do
	echo "$((6000 + i));soak-agent-pw" >>"$work/agents.csv"
	"$bin" agent add --ext $((6000 + i)) --password soak-agent-pw >/dev/null
done
sipp "$sip" -sf "$sipp_dir/register.xml" -inf "$work/agents.csv" -m "$AGENTS" -r 200 -set expires 7200 \
	-i 127.0.0.1 -p $phones -t u1 -nostdin -timeout 30s -timeout_error >/dev/null
sipp -sf "$sipp_dir/agent_uas.xml" -i 127.0.0.1 -p $phones -t u1 -nostdin -buff_size 4194304 >/dev/null 2>&1 &
echo $! >>"$work/pids"
sleep 1

secs=$((MIN * 60))
sipp "$sip" -sf "$sipp_dir/caller_uac.xml" -s 12345 -d "$TALK_MS" -r "$CALL_RATE" -m $((CALL_RATE * secs)) -i 127.0.0.1 -p 27102 -t u1 \
	-nostdin -buff_size 4194304 -trace_err -error_file "$work/sipp_errors.log" >"$work/sipp.out" 2>&1 &
callers=$!
echo $callers >>"$work/pids"
"$bin" bench intake --url "http://$http" --n $((WEB_RATE * secs)) --c $web_c --rate "$WEB_RATE" >"$work/web.out" 2>&1 &
web=$!
echo $! >>"$work/pids"
"$bin" bench wechat --url "http://$http/wechat" --app-id wxsoak --token soaktoken --aes-key "$key" \
	--n $((WECHAT_RATE * secs)) --c $wechat_c --rate "$WECHAT_RATE" >"$work/wechat.out" 2>&1 &
wechat=$!
echo $! >>"$work/pids"

# live_mib: the heap the collector found live at its last cycle, read from
# its next goal (goal = live × (1 + GOGC/100), GOGC 400 as `serve` sets it)
# unless the memory limit set the goal; heap in use swings with the goal.
echo "minute,goroutines,rss_mib,heap_inuse_mib,live_mib,calls_ended"
for m in $(seq 0 "$MIN"); do
	curl -s -H "Authorization: Bearer $YIHAO_METRICS_TOKEN" "http://$http/metrics" | awk -v m="$m" '
		/^go_goroutines / {g=$2}
		/^process_resident_memory_bytes / {r=$2/1048576}
		/^go_memstats_heap_inuse_bytes / {h=$2/1048576}
		/^go_memstats_next_gc_bytes / {goal=$2/1048576}
		/^go_gc_gogc_percent / {gogc=$2}
		/^yihao_hotline_calls_total/ {c+=$2}
		END {printf "%d,%d,%.1f,%.1f,%.1f,%d\n", m, g, r, h, goal * 100 / (100 + gogc), c}'
	[ "$m" -lt "$MIN" ] && sleep 60
done
# The last calls finish talking, and the web and WeChat clients their last
# requests (a client behind its rate ends after minute MIN): their
# summaries, with what was lost and doubled, are the run's outcome.
wait $callers $web $wechat || true
sleep 5
echo "--- web"; tail -12 "$work/web.out"
echo "--- wechat"; tail -10 "$work/wechat.out"
echo "--- sip"; grep -a -E "Successful call|Failed call" "$work/sipp.out" | tail -2 || true
if [ -s "$work/sipp_errors.log" ]; then
	# The whole log is kept (the work directory is not): the summary's
	# first lines say when and what, the rest is in the copy.
	keep=${SOAK_ERRORS:-/tmp/soak-sipp-errors.log}
	cp "$work/sipp_errors.log" "$keep"
	echo "--- why calls failed (sipp's error log, kept in $keep; its first lines)"
	grep -a -v '^[[:space:]]*$' "$work/sipp_errors.log" | cut -c1-160 | head -20
fi
