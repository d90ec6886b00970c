#!/bin/bash
# handshakes.sh: how many full handshakes a second the concentrator
# completes (TCP, mutual TLS 1.3 with the device certificate, USER_PROOF
# verified against the user CA, policy, ADMIT), each followed by an orderly
# CLOSE. ztvpn-hsload drives them from laptop1 with 1 and 2 threads, 8 and
# 32 handshakes in flight per thread, ZT_BENCH_RUNS runs each; prints the
# median rate, latency (connect -> ADMIT), the CPU used by the server's
# process tree and by the load generator, and failures. It does not judge.
#
#   sudo tests/bench/handshakes.sh
#
# The concentrator runs one event loop on one core; with 2 cores on the
# machine, its CPU column near 100% says the server is the bottleneck.
#
# Environment: ZT_BUILD (default <repo>/build), ZT_BENCH_SECONDS (length of
# each run, default 10), ZT_BENCH_RUNS (default 3), ZT_DEBUG=1 (debug
# logging in the server, default off here). Needs root.
set -euo pipefail
export ZT_DEBUG=${ZT_DEBUG:-0}
# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=SCRIPTDIR/gateway.sh
. "$(dirname "$0")/gateway.sh"

secs=${ZT_BENCH_SECONDS:-10}
runs=${ZT_BENCH_RUNS:-3}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "ZT_BENCH_SECONDS must be a positive integer" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "ZT_BENCH_RUNS must be 1..99" >&2; exit 2; }

bench_gateway_up handshakes
conf=$HSLOAD_CONF
spid=$BENCH_SERVER_PID

# hsload NAME ARGS...: one ztvpn-hsload run from laptop1; its log is NAME.
hsload() {
	local name=$1
	shift
	run_fg "$name" $((secs + 30)) "$NS_L1" "$HSLOAD_BIN" -c "$conf" "$@"
	if [[ $FG_STATUS != 0 ]]; then
		log "ztvpn-hsload $name: exit status $FG_STATUS"
		diag "$(bg_log "$name")" >&2
	fi
}

log "warm-up: 2 s"
secs_saved=$secs secs=2
hsload warmup -n 8 -j 1
secs=$secs_saved

# One line per run: threads inflight rate p50 p99 failures gen_cpu% srv_cpu% hs_per_srv_cpu_s
results=$ZT_TMP/results
: >"$results"
log "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for threads in 1 2; do
	for inflight in 8 32; do
		for ((r = 1; r <= runs; r++)); do
			name=hsload-j$threads-n$inflight-r$r
			c0=$(tree_cpu_ticks "$spid")
			hsload "$name" -n "$inflight" -j "$threads" -t "$secs"
			c1=$(tree_cpu_ticks "$spid")
			out=$(bg_log "$name")
			rate=$(hsload_field "$out" rate)
			if [[ -z $rate ]]; then
				log "$name: no result"
				continue
			fi
			awk -v t="$threads" -v n="$inflight" -v rate="$rate" \
				-v p50="$(hsload_field "$out" p50_ms)" -v p99="$(hsload_field "$out" p99_ms)" \
				-v fails="$(hsload_field "$out" failures)" -v gcpu="$(hsload_field "$out" cpu_s)" \
				-v hs="$(hsload_field "$out" handshakes)" -v secs="$secs" \
				-v scpu="$((c1 - c0))" -v tck="$CLK_TCK" 'BEGIN {
				s = scpu / tck
				printf "%d %d %s %s %s %s %.0f %.0f %s\n", t, n, rate, p50, p99, fails,
					100 * gcpu / secs, 100 * s / secs, (s > 0 ? sprintf("%.0f", hs / s) : "n/a")
			}' >>"$results"
			log "$name: $(tail -n1 "$results")"
			sed -n 's/^failed: /#   failed: /p' "$out"
		done
	done
done

col() { # col THREADS INFLIGHT N: median of column N over the runs
	awk -v t="$1" -v n="$2" -v c="$3" '$1 == t && $2 == n { print $c }' "$results" | median
}

printf '\nHandshakes/s (TCP + mTLS 1.3 + user proof + ADMIT + CLOSE), %d s per run, median of %d runs\n' \
	"$secs" "$runs"
printf 'load generator ztvpn-hsload in laptop1, concentrator in the gateway namespace, %d CPUs\n' "$(nproc)"
printf '%-8s %9s %9s %10s %9s %9s %8s %9s %9s %12s\n' threads "in flight" "(total)" "hs/s" \
	"p50 ms" "p99 ms" failures "gen CPU%" "srv CPU%" "hs/srv CPU-s"
for threads in 1 2; do
	for inflight in 8 32; do
		printf '%-8s %9s %9s %10s %9s %9s %8s %9s %9s %12s\n' "$threads" "$inflight" \
			$((threads * inflight)) "$(col "$threads" "$inflight" 3)" \
			"$(col "$threads" "$inflight" 4)" "$(col "$threads" "$inflight" 5)" \
			"$(col "$threads" "$inflight" 6)" "$(col "$threads" "$inflight" 7)" \
			"$(col "$threads" "$inflight" 8)" "$(col "$threads" "$inflight" 9)"
	done
done
printf 'srv CPU%%: the server process tree (100%% = one core: it runs one event loop); gen CPU%%: ztvpn-hsload\n'
printf 'hs/srv CPU-s: handshakes per CPU second of the server tree, what one core could complete\n'
printf '(when other work shares the CPUs, hs/s falls with the CPU share; this column much less)\n'
