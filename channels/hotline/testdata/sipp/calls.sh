# calls.sh: the calls of a SIP proxy benchmark, sourced by bench.sh (Yihao)
# and bench/kamailio.sh (the baseline), so both proxies see the very same
# callers and agents' phones.
#
#   drive_calls SIP PHONES WORK
#
# SIP is the proxy's address, PHONES the port the agents' phones listen on,
# WORK a scratch directory (its pids file lists what to stop). Uses AGENTS,
# RATE and CALLS and sippdir (this directory). The agents are 5001..500N
# with passwords bench-agent-1..N, which the proxy must know already. They
# register (digest), sipp answers as their phones, and CALLS calls to 12345
# are placed at RATE a second. Prints sipp's summary lines and its exit code.
drive_calls() {
	echo SEQUENTIAL >"$3/agents.csv"
	for i in $(seq 1 "$AGENTS"); do
		echo "$((5000 + i));bench-agent-$i" >>"$3/agents.csv"
	done
	# The agents register from the port their phone (the UAS below) listens on.
	sipp "$1" -sf "$sippdir/register.xml" -inf "$3/agents.csv" -m "$AGENTS" -r 200 \
		-i 127.0.0.1 -p "$2" -t u1 -nostdin -timeout 30s -timeout_error >/dev/null
	sipp -sf "$sippdir/agent_uas.xml" -i 127.0.0.1 -p "$2" -t u1 -nostdin -buff_size 4194304 \
		-trace_err -error_file "$3/uas_errors.log" >/dev/null 2>&1 &
	echo $! >>"$3/pids"
	sleep 1

	set +e
	sipp "$1" -sf "$sippdir/caller_uac.xml" -s 12345 -d 0 -m "$CALLS" -r "$RATE" -i 127.0.0.1 -t u1 \
		-nostdin -buff_size 4194304 -timeout 120s -timeout_error -trace_err -error_file "$3/uac_errors.log" \
		>"$3/uac.out" 2>&1
	code=$?
	set -e
	grep -a -E "Call Rate|Successful call|Failed call|Retransmissions" "$3/uac.out" | tail -4
	echo "sipp exit $code"
}
