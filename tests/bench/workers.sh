#!/bin/bash
# workers.sh: how the concentrator's data plane scales from one worker to
# two (workers = 1, 2) over the UDP data channel, in the same run: one
# session (alice, laptop1) and two sessions at once (alice and bob,
# laptop1 and laptop2), each running iperf3 to corp for ZT_BENCH_SECONDS
# in both directions. Prints Mbit/s (summed over the sessions) and the CPU
# seconds of the server's process tree per run; it does not judge.
#
#   sudo tests/bench/workers.sh
#
# Environment: ZT_BUILD (default <repo>/build), ZT_BENCH_SECONDS (default
# 10), ZT_BENCH_RUNS (default 1; medians with more). Needs root, iperf3
# and python3.
set -euo pipefail
export ZT_DEBUG=${ZT_DEBUG:-0}
# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=SCRIPTDIR/gateway.sh
. "$(dirname "$0")/gateway.sh"

secs=${ZT_BENCH_SECONDS:-10}
runs=${ZT_BENCH_RUNS:-1}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "ZT_BENCH_SECONDS must be a positive integer" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "ZT_BENCH_RUNS must be a positive integer" >&2; exit 2; }

zt_init bench-workers
for tool in iperf3 python3; do
	command -v "$tool" >/dev/null || bail "$tool is not installed (packaging/install-deps.sh)"
done
require_bins server client
zt_pki
topo_up 2
write_client_conf "$ZT_TMP/laptop1/client.conf" "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
write_client_conf "$ZT_TMP/laptop2/client.conf" "$ZT_PKI/devices/laptop-077" "$ZT_PKI/users/bob"
start_bg iperf-a "$NS_CORP" iperf3 -s -B "$CORP_ADDR" -p 5201
start_bg iperf-b "$NS_CORP" iperf3 -s -B "$CORP_ADDR" -p 5202
wait_for 5 port_listening "$NS_CORP" 5202 || bail "iperf3 servers did not start"

# mbits LOG: Mbit/s received in an iperf3 -J log, or n/a.
mbits() {
	python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print("%.0f" % (d["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception:
    print("n/a")
' "$1"
}

# one_run W SESSIONS DIR: iperf3 from SESSIONS laptops at once (-R for
# down); prints "MBIT CPU_S".
one_run() {
	local w=$1 n=$2 dir=$3 t0 t1 total=0 i v pids=() rev=()
	[[ $dir == down ]] && rev=(-R)
	t0=$(tree_cpu_ticks "$(bg_pid "server-$w")")
	for ((i = 1; i <= n; i++)); do
		local ns=$NS_L1 port=5201
		((i == 2)) && ns=$NS_L2 port=5202
		nsx "$ns" timeout $((secs + 20)) iperf3 -c "$CORP_ADDR" -p "$port" -t "$secs" -J \
			"${rev[@]}" >"$ZT_TMP/run-$w-$n-$dir-$i.json" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || true; done
	t1=$(tree_cpu_ticks "$(bg_pid "server-$w")")
	for ((i = 1; i <= n; i++)); do
		v=$(mbits "$ZT_TMP/run-$w-$n-$dir-$i.json")
		[[ $v == n/a ]] && { echo "n/a n/a"; return; }
		total=$((total + v))
	done
	printf '%s %s\n' "$total" "$(python3 -c "print('%.1f' % (($t1 - $t0) / $CLK_TCK))")"
}

# median FORMAT VALUE...: the median of the VALUEs (n/a ignored), printed
# with FORMAT (e.g. %.0f).
median() {
	python3 -c '
import statistics, sys
v = [float(x) for x in sys.argv[2:] if x != "n/a"]
print(sys.argv[1] % statistics.median(v) if v else "n/a")
' "$@"
}

declare -A MB=() CPU=()
for w in 1 2; do
	write_server_conf "$ZT_TMP/gw/server.conf" "udp_listen = \"$GW_LAN:8443\";
workers = $w;"
	start_server "server-$w" || bail "ztvpn-server (workers = $w) did not start"
	start_client "alice-$w" "$NS_L1" "$ZT_TMP/laptop1/client.conf" || bail "alice's tunnel did not come up"
	start_client "bob-$w" "$NS_L2" "$ZT_TMP/laptop2/client.conf" || bail "bob's tunnel did not come up"
	wait_for 10 has_line "data over UDP" "$(bg_log "alice-$w")" || bail "alice is not on UDP"
	wait_for 10 has_line "data over UDP" "$(bg_log "bob-$w")" || bail "bob is not on UDP"
	for n in 1 2; do
		for dir in up down; do
			mbs=() cpus=()
			for ((r = 0; r < runs; r++)); do
				read -r m c < <(one_run "$w" "$n" "$dir")
				mbs+=("$m")
				cpus+=("$c")
			done
			MB[$w-$n-$dir]=$(median %.0f "${mbs[@]}")
			CPU[$w-$n-$dir]=$(median %.1f "${cpus[@]}")
			log "workers $w, $n session(s), $dir: ${MB[$w-$n-$dir]} Mbit/s, server CPU ${CPU[$w-$n-$dir]} s"
		done
	done
	bg_stop "alice-$w"
	bg_stop "bob-$w"
	bg_stop "server-$w"
done

printf '\nztvpn over UDP, iperf3 %d s per run, %d run(s) (median), %s, %d CPUs\n' \
	"$secs" "$runs" "$(uname -r)" "$(nproc)"
printf '%-24s %14s %14s %10s\n' "" "workers = 1" "workers = 2" "2 / 1"
for n in 1 2; do
	for dir in up down; do
		label="$n session, $dir"
		((n == 1)) || label="$n sessions, $dir"
		ratio=$(python3 -c "
try: print('%.2f' % (float('${MB[2-$n-$dir]}') / float('${MB[1-$n-$dir]}')))
except Exception: print('n/a')")
		printf '%-24s %9s Mb/s %9s Mb/s %10s\n' "$label" "${MB[1-$n-$dir]}" "${MB[2-$n-$dir]}" "$ratio"
		printf '%-24s %11s s %12s s\n' "  server CPU" "${CPU[1-$n-$dir]}" "${CPU[2-$n-$dir]}"
	done
done
zt_finish
