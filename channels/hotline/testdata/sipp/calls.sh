# calls.sh: the calls of a SIP proxy benchmark, sourced by bench.sh (Yihao)
# and bench/kamailio.sh (the baseline), so both proxies see the very same
# callers and agents' phones.
#
#   drive_calls SIP PHONES WORK
#
# SIP is the proxy's address, PHONES the port the agents' phones listen on,
# WORK a scratch directory (its pids file lists what to stop). Uses AGENTS,
# RATE and CALLS and sippdir (this directory); with SIP2, a second proxy's
# address, half the calls go through each (the agents register with the
# first only). The agents are 5001..500N
# with passwords bench-agent-1..N, which the proxy must know already. They
# register (digest), sipp answers as their phones, and CALLS calls to 12345
# are placed at RATE a second. Prints sipp's summary lines and its exit code.
#
# A message out of the scenario's order does not abort the call here
# (-default_behaviors all,-abortunexp): over UDP a proxy with several workers
# may pass a call's 180 after its 200, or its BYE before its ACK, which a
# phone takes in its stride. The call must still reach its end (the 200 to
# the BYE) to count; sipp counts such messages as unexpected, and the
# summary prints them. The tests' scenarios (sipptest) stay strict.
tolerant="-default_behaviors all,-abortunexp"
drive_calls() {
	echo SEQUENTIAL >"$3/agents.csv"
	for i in $(seq 1 "$AGENTS"); do
		echo "$((5000 + i));bench-agent-$i" >>"$3/agents.csv"
	done
	# The agents register from the port their phone (the UAS below) listens on.
	sipp "$1" -sf "$sippdir/register.xml" -inf "$3/agents.csv" -m "$AGENTS" -r 200 \
		-i 127.0.0.1 -p "$2" -t u1 -nostdin -timeout 30s -timeout_error >/dev/null
	sipp -sf "$sippdir/agent_uas.xml" -i 127.0.0.1 -p "$2" -t u1 -nostdin -buff_size 4194304 $tolerant \
		-trace_err -error_file "$3/uas_errors.log" >/dev/null 2>&1 &
	echo $! >>"$3/pids"
	sleep 1

	set +e
	if [ -z "${SIP2:-}" ]; then
		caller "$1" "$CALLS" "$RATE" "$3/uac"
		code=$?
		grep -a -E "Call Rate|Successful call|Failed call|Retransmissions" "$3/uac.out" | tail -4
	else
		# Two proxies sharing the agents: half the callers to each, at once;
		# the summary adds the two.
		caller "$1" $((CALLS / 2)) $((RATE / 2)) "$3/uac" &
		first=$!
		caller "$SIP2" $((CALLS - CALLS / 2)) $((RATE - RATE / 2)) "$3/uac2"
		code=$?
		wait "$first" || code=$?
		for f in "$3/uac.out" "$3/uac2.out"; do
			grep -a -E "Call Rate|Successful call|Failed call" "$f" | tail -3 | sed "s|^|  ($(basename "$f" .out)) |"
		done
		cat "$3/uac.out" "$3/uac2.out" | awk -F'|' '
			/Call Rate/ { r = $3; gsub(/[^0-9.]/, "", r); rate += r }
			/Successful call/ { n = $3; gsub(/[^0-9]/, "", n); ok += n }
			/Failed call/ { n = $3; gsub(/[^0-9]/, "", n); failed += n }
			END {
				printf "  Call Rate              |    0.000 cps              | %8.3f cps             \n", rate
				printf "  Successful call        |        0                  | %8d                 \n", ok
				printf "  Failed call            |        0                  | %8d                 \n", failed
			}'
	fi
	set -e
	echo "sipp exit $code"
}

# caller places N calls to 12345 through PROXY at RATE a second; sipp's
# output goes to OUT.out, its errors to OUT_errors.log. CALLER_XML is the
# callers' scenario (default caller_uac.xml).
caller() { # PROXY N RATE OUT
	sipp "$1" -sf "$sippdir/${CALLER_XML:-caller_uac.xml}" -s 12345 -d 0 -m "$2" -r "$3" -i 127.0.0.1 -t u1 \
		-nostdin -buff_size 4194304 $tolerant -timeout 120s -timeout_error -trace_err -error_file "$4_errors.log" \
		>"$4.out" 2>&1
}
