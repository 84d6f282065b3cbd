#!/bin/sh
# kamailio.sh: the baseline for Yihao's SIP proxy. The same sipp callers and
# agents' phones as channels/hotline/testdata/sipp/bench.sh, through
# Kamailio from the distribution instead of Yihao: a registrar (digest
# authentication, the locations in memory) and a stateful, record-routing
# proxy that sends each call to the next registered agent in turn.
#
#   bench/kamailio.sh [RATE [CALLS]]
#
# RATE calls a second (default 2000), CALLS in all (default 40000). Each
# call: INVITE → 180 → 200 → ACK → BYE → 200, as in bench.sh. Configured as
# a fair baseline, not a tuned one: the stock build and settings, two UDP
# workers (the machine's two cores), the stock socket buffers, no database,
# 1 GB of shared memory.
# Installs the Debian package kamailio if it is missing (apt-get; needs
# root). Prints sipp's summary lines.
set -eu
RATE=${1:-2000}
CALLS=${2:-40000}
AGENTS=${AGENTS:-100}
here=$(cd "$(dirname "$0")" && pwd)
sippdir=$here/../channels/hotline/testdata/sipp
work=$(mktemp -d)
trap 'kill $(cat "$work"/pids 2>/dev/null) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

if ! command -v kamailio >/dev/null 2>&1 && ! [ -x /usr/sbin/kamailio ]; then
	echo "installing kamailio (the distribution's package) for the baseline" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio >/dev/null
fi
kamailio=$(command -v kamailio || echo /usr/sbin/kamailio)
modules=$(dirname "$(find /usr/lib -path '*kamailio/modules/tm.so' 2>/dev/null | head -1)")

sip=127.0.0.1:25070 phones=27071
cat >"$work/kamailio.cfg" <<CFG
#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=2
disable_tcp=yes
auto_aliases=no
listen=udp:$sip
alias="$sip"

mpath="$modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"

modparam("usrloc", "db_mode", 0)
modparam("pv", "shvset", "next=i:0")

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	# Within a dialog (ACK, BYE): follow the Route the INVITE recorded.
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK") && t_check_trans()) {
			t_relay();
		}
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	t_check_trans();
	if (is_method("REGISTER")) {
		# The agents' passwords as bench.sh and Yihao give them: bench-agent-N for 500N.
		\$var(pw) = "bench-agent-" + (\$(fU{s.int}) - 5000);
		if (!pv_auth_check("\$fd", "\$var(pw)", "0", "1")) {
			auth_challenge("\$fd", "0");
			exit;
		}
		save("location");
		exit;
	}
	if (is_method("INVITE") && \$rU == "12345") {
		# The next agent in turn (two workers may share a turn now and then).
		\$shv(next) = (\$shv(next) + 1) mod $AGENTS;
		\$ru = "sip:" + (5001 + \$shv(next)) + "@$sip";
		if (!lookup("location")) {
			sl_send_reply("480", "Temporarily Unavailable");
			exit;
		}
		record_route();
		t_relay();
		exit;
	}
	sl_send_reply("404", "Not Found");
}
CFG
"$kamailio" -c -f "$work/kamailio.cfg" >/dev/null 2>&1 || { "$kamailio" -c -f "$work/kamailio.cfg"; exit 1; }
# 1 GB of shared memory: each call holds two transactions for tm's 5 s wait
# after they end, and the stock 64 MB runs out past ~1,000 calls a second.
"$kamailio" -f "$work/kamailio.cfg" -m 1024 -DD -E -P "$work/kamailio.pid" -Y "$work" >"$work/kamailio.log" 2>&1 &
echo $! >>"$work/pids"
sleep 1

. "$sippdir/calls.sh"
drive_calls "$sip" "$phones" "$work"
