#!/bin/bash
# session_memory.sh: memory per idle session. ztvpn-hsload --hold opens
# ZT_BENCH_SESSIONS (default 1,000) sessions from laptop1 and keeps them
# admitted with keepalives; the resident memory of the server's process
# tree (VmRSS, and Pss from smaps_rollup, which counts pages shared between
# the server's processes once) is read before any session, with all of them
# held, after they have left, and with a second round of as many (the
# allocator keeps what it freed: the second round shows reuse, not growth).
# The kernel's memory for their sockets (ss -tm in the gateway namespace,
# and the TCP slab caches) is reported separately. It does not judge.
#
#   sudo tests/bench/session_memory.sh
#
# Environment: ZT_BUILD (default <repo>/build), ZT_BENCH_SESSIONS (default
# 1000, at most 2000 = the benchmark's max_sessions), ZT_BENCH_HOLD (seconds
# to hold them before reading, default 25: more than two keepalive
# intervals, so the figures include sessions that have exchanged
# keepalives), ZT_DEBUG=1 (debug logging in the server). Needs root.
set -euo pipefail
export ZT_DEBUG=${ZT_DEBUG:-0}
# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=SCRIPTDIR/gateway.sh
. "$(dirname "$0")/gateway.sh"

sessions=${ZT_BENCH_SESSIONS:-1000}
hold=${ZT_BENCH_HOLD:-25}
if ! [[ $sessions =~ ^[1-9][0-9]*$ ]] || ((sessions > 2000)); then
	echo "ZT_BENCH_SESSIONS must be 1..2000" >&2
	exit 2
fi
if ! [[ $hold =~ ^[0-9]+$ ]] || ((hold > 600)); then
	echo "ZT_BENCH_HOLD must be 0..600" >&2
	exit 2
fi

bench_gateway_up session-memory
conf=$HSLOAD_CONF
spid=$BENCH_SERVER_PID
slog=$(bg_log server)
sleep 1

# kernel_mem: "SOCKETS RMEM WMEM FWD QUEUED" summed over the server's
# established sockets on 8443 (bytes, ss's skmem r, t, f, w).
kernel_mem() {
	nsx "$NS_GW" ss -Htmn state established '( sport = :8443 )' |
		awk '/skmem:/ {
			n++
			if (match($0, /skmem:\([^)]*\)/)) {
				split(substr($0, RSTART + 6, RLENGTH - 7), kv, ",")
				for (i in kv) {
					k = kv[i]; sub(/[0-9]+$/, "", k); v = substr(kv[i], length(k) + 1)
					if (k == "r") r += v; else if (k == "t") t += v
					else if (k == "f") f += v; else if (k == "w") w += v
				}
			}
		} END { printf "%d %d %d %d %d\n", n, r, t, f, w }'
}

# slab_objs CACHE: active objects of a kernel slab cache (whole kernel).
slab_objs() {
	awk -v c="$1" '$1 == c { print $2 }' /proc/slabinfo
}
slab_size() {
	awk -v c="$1" '$1 == c { print $4 }' /proc/slabinfo
}

# hold_round NAME SECONDS: ztvpn-hsload --hold from laptop1 until all
# sessions are up, then SECONDS more; leaves it running. RAMP_MS = how long
# the sessions took to come up.
RAMP_MS=
hold_round() {
	local name=$1 t0
	t0=$(now_us)
	start_bg "$name" "$NS_L1" "$HSLOAD_BIN" -c "$conf" --hold "$sessions" -n 32 -t $(($2 + 300))
	wait_for 300 has_line "^holding $sessions sessions" "$(bg_log "$name")" || {
		diag "$(bg_log "$name")"
		bail "ztvpn-hsload $name did not get $sessions sessions up within 300 s"
	}
	RAMP_MS=$((($(now_us) - t0) / 1000))
	log "$name: $sessions sessions up in $RAMP_MS ms; holding them for $2 s"
	sleep "$2"
	bg_alive "$name" || bail "ztvpn-hsload $name ended early"
}

# end_round NAME: stop ztvpn-hsload NAME (it sends CLOSE on every session)
# and wait until the server has logged the end of all of them.
end_round() {
	local name=$1 ends_before
	ends_before=$(count 'audit event=end ' "$slog")
	bg_stop "$name"
	sed -n 's/^/#   /p' "$(bg_log "$name")"
	wait_for 30 at_least $((ends_before + sessions)) 'audit event=end ' "$slog" ||
		log "the server logged only $(($(count 'audit event=end ' "$slog") - ends_before)) of $sessions session ends"
	sleep 1
}

read -r rss0 pss0 <<<"$(tree_mem_kb "$spid")"
tcp0=$(slab_objs TCP) ino0=$(slab_objs sock_inode_cache)
log "before: RSS $rss0 KiB, Pss $pss0 KiB ($(tree_pids "$spid" | wc -l) processes)"

hold_round hold "$hold"
ramp=$RAMP_MS
read -r rss1 pss1 <<<"$(tree_mem_kb "$spid")"
read -r socks rmem wmem fwd queued <<<"$(kernel_mem)"
tcp1=$(slab_objs TCP) ino1=$(slab_objs sock_inode_cache)
log "with $sessions: RSS $rss1 KiB, Pss $pss1 KiB; kernel: $socks sockets"
end_round hold
lost=$(hsload_field "$(bg_log hold)" lost)
read -r rss2 pss2 <<<"$(tree_mem_kb "$spid")"
log "after: RSS $rss2 KiB, Pss $pss2 KiB"

# The allocator keeps freed memory for reuse: a second round that brings
# the server back to about the same figure shows reuse, not a leak.
hold_round again 1
read -r rss3 pss3 <<<"$(tree_mem_kb "$spid")"
end_round again
lost2=$(hsload_field "$(bg_log again)" lost)
lost=$((${lost:-0} + ${lost2:-0}))
log "second round: RSS $rss3 KiB, Pss $pss3 KiB"

per() { # per KIB_DELTA: KiB per session, one decimal
	awk -v d="$1" -v n="$sessions" 'BEGIN { printf "%.1f", d / n }'
}

printf '\nMemory of the concentrator (server process tree) with %d idle sessions held by ztvpn-hsload\n' "$sessions"
printf '(%d sessions up in %d ms, held %d s with keepalives; sessions lost meanwhile: %s)\n' \
	"$sessions" "$ramp" "$hold" "$lost"
printf '%-28s %12s %12s\n' "" "VmRSS KiB" "Pss KiB"
printf '%-28s %12s %12s\n' "before any session" "$rss0" "$pss0"
printf '%-28s %12s %12s\n' "with $sessions sessions" "$rss1" "$pss1"
printf '%-28s %12s %12s\n' "after they left" "$rss2" "$pss2"
printf '%-28s %12s %12s\n' "with $sessions again" "$rss3" "$pss3"
printf '%-28s %12s %12s\n' "per session (with - before)" "$(per $((rss1 - rss0)))" "$(per $((pss1 - pss0)))"
printf '\nKernel socket memory of those sessions on the gateway (ss -tm, sport 8443), bytes\n'
printf '%-10s %12s %12s %12s %12s %14s\n' sockets "rmem_alloc" "wmem_alloc" "fwd_alloc" "wmem_queued" "per session"
printf '%-10s %12s %12s %12s %12s %14s\n' "$socks" "$rmem" "$wmem" "$fwd" "$queued" \
	"$(awk -v s="$socks" -v a=$((rmem + wmem + fwd + queued)) 'BEGIN { printf "%.0f", s ? a / s : 0 }')"
tcpsz=$(slab_size TCP) inosz=$(slab_size sock_inode_cache)
printf '\nSocket structures (not in skmem), slab caches of the whole kernel: both ends of\n'
printf 'each connection live in this kernel, so per session = delta / (2 x %d)\n' "$sessions"
printf '%-18s %10s %12s %14s\n' cache "objects +" "object bytes" "per session"
printf '%-18s %10s %12s %14s\n' TCP $((tcp1 - tcp0)) "$tcpsz" \
	"$(awk -v d=$((tcp1 - tcp0)) -v b="$tcpsz" -v n="$sessions" 'BEGIN { printf "%.0f", d * b / (2 * n) }')"
printf '%-18s %10s %12s %14s\n' sock_inode_cache $((ino1 - ino0)) "$inosz" \
	"$(awk -v d=$((ino1 - ino0)) -v b="$inosz" -v n="$sessions" 'BEGIN { printf "%.0f", d * b / (2 * n) }')"
