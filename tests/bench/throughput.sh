#!/bin/bash
# throughput.sh: TCP throughput from a laptop to corp with iperf3, through
# ztvpn and, in the same run and topology, with plain routing (no tunnel),
# in both directions; through ztvpn twice: with the implicit allow-all
# policy (no policy file) and with a 1,000-rule policy file enforced on
# every packet (connection tracking included). Prints Mbit/s and the
# tunnel/plain ratios; it does not judge the numbers.
#
#   sudo tests/bench/throughput.sh
#   sudo ZT_BENCH_SANDBOX=both tests/bench/throughput.sh   # the sandbox's cost
#
# Environment: ZT_BUILD (default <repo>/build), ZT_BENCH_SECONDS (length of
# each iperf3 run, default 10), ZT_DEBUG=1 (debug logging in the programs,
# default off here), ZT_BENCH_SANDBOX=both (run the ztvpn columns twice,
# with `sandbox = true;` and `sandbox = false;` in server.conf, and print
# their ratio; unset: the server's default). Needs root, iperf3 and python3.
set -euo pipefail
export ZT_DEBUG=${ZT_DEBUG:-0}
# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=SCRIPTDIR/gateway.sh
. "$(dirname "$0")/gateway.sh"

secs=${ZT_BENCH_SECONDS:-10}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "ZT_BENCH_SECONDS must be a positive integer" >&2; exit 2; }
sandbox=${ZT_BENCH_SANDBOX:-}
[[ -z $sandbox || $sandbox == both ]] || { echo "ZT_BENCH_SANDBOX must be 'both' or unset" >&2; exit 2; }

zt_init bench
for tool in iperf3 python3; do
	command -v "$tool" >/dev/null || bail "$tool is not installed (packaging/install-deps.sh)"
done
require_bins server client
zt_pki
topo_up 1

start_bg iperf3 "$NS_CORP" iperf3 -s -B "$CORP_ADDR"
wait_for 5 port_listening "$NS_CORP" 5201 || bail "iperf3 server did not start"

# iperf NAME [-R]: one iperf3 run from the laptop; prints Mbit/s received.
iperf() {
	local name=$1
	shift
	run_fg "iperf-$name" $((secs + 30)) "$NS_L1" \
		iperf3 -c "$CORP_ADDR" -t "$secs" -J "$@"
	if [[ $FG_STATUS != 0 ]]; then
		{
			log "iperf3 $name failed (status $FG_STATUS)"
			diag "$(bg_log "iperf-$name")"
		} >&2
		echo "n/a"
		return 0
	fi
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("%.1f" % (d["end"]["sum_received"]["bits_per_second"] / 1e6))
' "$(bg_log "iperf-$name")" || echo "n/a"
}

ratio() {
	python3 -c '
import sys
try:
    print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))
except (ValueError, ZeroDivisionError):
    print("n/a")
' "$1" "$2"
}

log "plain routing (no tunnel): laptop -> 192.0.2.1 -> corp, $secs s per run"
ip -n "$NS_L1" route add 198.51.100.0/24 via "$GW_LAN"
ip -n "$NS_CORP" route add 192.0.2.0/24 via "$GW_CORP"
plain_up=$(iperf plain-up)
plain_down=$(iperf plain-down -R)
ip -n "$NS_L1" route del 198.51.100.0/24 via "$GW_LAN"
ip -n "$NS_CORP" route del 192.0.2.0/24 via "$GW_CORP"

# A policy of 1,000 rules: 800 for other users and groups, 199 that apply to
# alice on laptop-042 (ports on single hosts), one deny, and the rule that
# lets iperf3 through; the decision per packet must not care how many.
write_policy() {
	local i
	echo 'rules = ('
	for ((i = 1; i <= 800; i++)); do
		printf '  { name = "other-%d"; users = [ "group:team-%d" ]; devices = [ "*" ]; allow = [ "198.51.100.%d tcp/%d" ]; },\n' \
			"$i" "$i" $((i % 250 + 1)) $((10000 + i))
	done
	for ((i = 1; i <= 199; i++)); do
		printf '  { name = "alice-%d"; users = [ "alice" ]; devices = [ "*" ]; allow = [ "198.51.100.%d/32 tcp/%d,%d udp/%d" ]; },\n' \
			"$i" $((i % 250 + 1)) $((20000 + i)) $((30000 + i)) $((40000 + i))
	done
	echo '  { name = "no-ssh"; users = [ "*" ]; devices = [ "*" ]; deny = [ "198.51.100.0/24 tcp/22" ]; },'
	echo '  { name = "iperf"; users = [ "alice" ]; devices = [ "laptop-042" ]; allow = [ "198.51.100.0/24 tcp/5201 icmp" ]; }'
	echo ');'
}
mkdir -p "$ZT_TMP/gw"
write_policy >"$ZT_TMP/gw/policy.conf"
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"

# vpn_runs TAG [SETTING]: the ztvpn columns, with SETTING (e.g. "sandbox =
# false;") added to server.conf: allow-all up and down, then the 1,000-rule
# policy up and down, into VPN[TAG-up], VPN[TAG-down], POL[TAG-up],
# POL[TAG-down].
declare -A VPN=() POL=()
vpn_runs() {
	local tag=$1 setting=${2:-}
	log "through ztvpn${setting:+ ($setting)}: laptop -> ztvpn0 -> TLS to 192.0.2.1:8443 -> corp"
	write_server_conf "$ZT_TMP/gw/server.conf" "$setting"
	start_server "server-$tag" || bail "ztvpn-server did not start"
	start_client "client-$tag" "$NS_L1" "$ZT_TMP/laptop1/client.conf" ||
		bail "the tunnel did not come up"
	route_dev "$NS_L1" 198.51.100.0/24 ztvpn0 || bail "198.51.100.0/24 is not routed via ztvpn0"
	VPN[$tag-up]=$(iperf "vpn-$tag-up")
	VPN[$tag-down]=$(iperf "vpn-$tag-down" -R)
	bg_stop "client-$tag"
	bg_stop "server-$tag"

	write_server_conf "$ZT_TMP/gw/server.conf" "policy = \"policy.conf\";
$setting"
	log "through ztvpn with a 1,000-rule policy enforced on every packet${setting:+ ($setting)}"
	start_server "server-$tag-pol" || bail "ztvpn-server did not start with the policy"
	start_client "client-$tag-pol" "$NS_L1" "$ZT_TMP/laptop1/client.conf" ||
		bail "the tunnel did not come up with the policy"
	POL[$tag-up]=$(iperf "pol-$tag-up")
	POL[$tag-down]=$(iperf "pol-$tag-down" -R)
	bg_stop "client-$tag-pol"
	bg_stop "server-$tag-pol"
}

# The table of one set of ztvpn columns against plain routing.
print_table() {
	local tag=$1 title=$2 dir label p v e
	printf '\nTCP throughput, iperf3, %d s per run (Mbit/s)%s\n' "$secs" "$title"
	printf '%-22s %10s %12s %8s %14s %8s\n' direction "plain" "allow-all" ratio "1,000 rules" "ratio"
	for dir in up down; do
		if [[ $dir == up ]]; then
			label="laptop -> corp" p=$plain_up
		else
			label="corp -> laptop (-R)" p=$plain_down
		fi
		v=${VPN[$tag-$dir]} e=${POL[$tag-$dir]}
		printf '%-22s %10s %12s %8s %14s %8s\n' "$label" "$p" "$v" "$(ratio "$v" "$p")" \
			"$e" "$(ratio "$e" "$v")"
	done
}

if [[ -z $sandbox ]]; then
	vpn_runs default
	print_table default ""
	exit 0
fi

modes=()
write_server_conf "$ZT_TMP/gw/server.conf"
for mode in true false; do
	if server_accepts "$ZT_TMP/gw/server.conf" "sandbox = $mode;"; then
		modes+=("$mode")
	else
		log "sandbox key not supported by this build: no column for sandbox = $mode"
		echo "sandbox key not supported by this build"
	fi
done
for mode in "${modes[@]}"; do
	vpn_runs "sandbox-$mode" "sandbox = $mode;"
	print_table "sandbox-$mode" ", sandbox = $mode"
done
if ((${#modes[@]} == 2)); then
	printf '\nCost of the sandbox: throughput with sandbox = true / with sandbox = false\n'
	printf '%-22s %10s %10s %8s %12s %12s %8s\n' direction "allow-all" "no sandbox" ratio \
		"1,000 rules" "no sandbox" ratio
	for dir in up down; do
		label="laptop -> corp"
		[[ $dir == up ]] || label="corp -> laptop (-R)"
		printf '%-22s %10s %10s %8s %12s %12s %8s\n' "$label" \
			"${VPN[sandbox-true-$dir]}" "${VPN[sandbox-false-$dir]}" \
			"$(ratio "${VPN[sandbox-true-$dir]}" "${VPN[sandbox-false-$dir]}")" \
			"${POL[sandbox-true-$dir]}" "${POL[sandbox-false-$dir]}" \
			"$(ratio "${POL[sandbox-true-$dir]}" "${POL[sandbox-false-$dir]}")"
	done
fi
