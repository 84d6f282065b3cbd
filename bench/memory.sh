#!/bin/sh
# memory.sh: the server's resident memory at full call and intake load
# together (issue 16's "RSS ≤ 256 MB at full intake and full SIP load").
#
#   YIHAO=/tmp/yihao bench/memory.sh [RATE [CALLS]]
#
# Calls through the SIP proxy at RATE a second (default 1500), CALLS in all
# (default 60000), with channels/hotline/testdata/sipp/bench.sh; from the
# sixth second `yihao bench intake --n N --c 32` (N default 25000) against
# the same instance. The server's RSS is read every 2 s (ps); the peak is
# printed with its anonymous and file-backed parts, then sipp's and the
# intake client's summaries (calls completed and failed, the call log,
# tickets a second, lost and doubled). Environment as for bench.sh:
# YIHAO_DATABASE_URL and YIHAO_REDIS_URL (default: the embedded store),
# GOMEMLIMIT to try another memory limit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rate=${1:-1500} calls=${2:-60000} n=${N:-25000}
bin=${YIHAO:-}
[ -n "$bin" ] || { echo "memory.sh: set YIHAO to a built binary (go build -o /tmp/yihao ./cmd/yihao)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

YIHAO="$bin" sh "$here/../channels/hotline/testdata/sipp/bench.sh" "$rate" "$calls" >"$out/sip" 2>&1 &
sip=$!
sleep 6
pid=$(pgrep -n -f "$bin serve" || true)
[ -n "$pid" ] || { echo "memory.sh: the server did not start" >&2; cat "$out/sip" >&2; exit 1; }
"$bin" bench intake --url http://127.0.0.1:28080 --n "$n" --c 32 >"$out/intake" 2>&1 &
intake=$!
peak=0 anon=0 file=0
while kill -0 "$sip" 2>/dev/null; do
	if st=$(cat "/proc/$pid/status" 2>/dev/null); then
		rss=$(echo "$st" | awk '/^VmRSS:/ {print $2}')
		if [ "${rss:-0}" -gt "$peak" ]; then
			peak=$rss
			anon=$(echo "$st" | awk '/^RssAnon:/ {print $2}')
			file=$(echo "$st" | awk '/^RssFile:/ {print $2}')
		fi
	fi
	sleep 2
done
wait "$sip" || true
wait "$intake" || true
echo "peak RSS $((peak / 1024)) MiB (anonymous $((anon / 1024)) MiB, file-backed $((file / 1024)) MiB)"
grep -E "Call Rate|Successful call|Failed call" "$out/sip" || true
grep -E "^call log" "$out/sip" || true
grep -E "throughput|latency p99|verified" "$out/intake" || true
