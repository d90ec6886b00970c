# shellcheck shell=bash
# gateway.sh: what the handshake and session-memory benchmarks share, on
# top of tests/integration/lib.sh (source that first): a gateway
# configuration for thousands of sessions, the load generator's path, and
# the CPU time and memory of the server's process tree (the server and any
# process it forks, such as an unprivileged network child).

# shellcheck disable=SC2034 # read by the scripts that source this file
HSLOAD_BIN=$ZT_BUILD/tests/ztvpn-hsload
# shellcheck disable=SC2034
CLK_TCK=$(getconf CLK_TCK)

# server_accepts FILE LINE: ztvpn-server -n accepts FILE with LINE appended
# (how a benchmark learns whether this build has a setting).
server_accepts() {
	local f=$1 line=$2 probe
	probe=$(dirname "$1")/probe.conf
	{ cat "$f"; printf '%s\n' "$line"; } >"$probe"
	"$SERVER_BIN" -n -c "$probe" >/dev/null 2>&1
	local rc=$?
	rm -f "$probe"
	return "$rc"
}

# bench_server_conf FILE [EXTRA]: the standard gateway (write_server_conf)
# with room for 2,000 sessions: a /20 pool, max_sessions = 2000, and every
# pre-authentication limit this build knows set far above what the load
# generator does (a benchmark measures the work, not the throttle). Logs
# which limits were set.
bench_server_conf() {
	local f=$1 extra=${2:-} line set=()
	write_server_conf "$f" "max_sessions = 2000;
$extra"
	sed -i 's|pool4 = "100.64.0.0/24";|pool4 = "100.64.0.0/20";|' "$f"
	grep -q 'pool4 = "100.64.0.0/20";' "$f" || bail "bench_server_conf: pool4 not found in $f"
	for line in 'max_handshakes = 4096;' 'max_handshakes_per_source = 4096;' \
		'connect_rate_per_source = 100000;'; do
		if server_accepts "$f" "$line"; then
			printf '%s\n' "$line" >>"$f"
			set+=("${line%;}")
		fi
	done
	"$SERVER_BIN" -n -c "$f" >"$ZT_TMP/check.out" 2>&1 ||
		{ diag "$ZT_TMP/check.out"; bail "ztvpn-server -n refused $f"; }
	log "gateway: pool4 100.64.0.0/20, max_sessions 2000${set[*]:+, ${set[*]}}"
}

# bench_laptop_tuning NS: the load generator opens and closes thousands of
# connections a second; as the side that closes first it keeps them in
# TIME_WAIT. Let NS reuse those and use the whole port range (namespace
# settings of the test's own namespace only).
bench_laptop_tuning() {
	nsx "$1" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	nsx "$1" sysctl -qw net.ipv4.tcp_tw_reuse=1
}

# bench_nofile: the server and the load generator need a descriptor per
# session; children started from here inherit this limit.
bench_nofile() {
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

# bench_gateway_up NAME: the benchmark's namespaces (one laptop), a test
# PKI, the gateway of bench_server_conf running as "server", and alice's
# client.conf for laptop1 in $HSLOAD_CONF; $BENCH_SERVER_PID is the server's.
bench_gateway_up() {
	zt_init "$1"
	require_bins server "$HSLOAD_BIN"
	zt_pki
	topo_up 1
	bench_laptop_tuning "$NS_L1"
	bench_nofile
	bench_server_conf "$ZT_TMP/gw/server.conf"
	HSLOAD_CONF=$ZT_TMP/laptop1/client.conf
	write_client_conf "$HSLOAD_CONF" "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
	start_server server || bail "ztvpn-server did not start"
	BENCH_SERVER_PID=$(bg_pid server)
}

# tree_pids PID: PID and all its descendants, one per line.
tree_pids() {
	local queue=("$1") p c
	while ((${#queue[@]} > 0)); do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		[[ -d /proc/$p ]] || continue
		printf '%s\n' "$p"
		# children lists are space-separated PIDs
		# shellcheck disable=SC2013
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
			queue+=("$c")
		done
	done
}

# tree_cpu_ticks PID: user+system CPU time of PID's tree, in clock ticks.
tree_cpu_ticks() {
	local p stat rest sum=0
	local -a f
	for p in $(tree_pids "$1"); do
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		rest=${stat##*) }
		read -r -a f <<<"$rest"
		# Fields 14 and 15 of stat (utime, stime); rest starts at field 3.
		sum=$((sum + f[11] + f[12]))
	done
	printf '%s' "$sum"
}

# tree_mem_kb PID: "RSS PSS" of PID's tree in KiB (VmRSS from status, Pss
# from smaps_rollup, which counts shared pages once across the tree).
tree_mem_kb() {
	local p rss=0 pss=0 v
	for p in $(tree_pids "$1"); do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
		rss=$((rss + ${v:-0}))
		v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || v=0
		pss=$((pss + ${v:-0}))
	done
	printf '%s %s' "$rss" "$pss"
}

# hsload_field LOG KEY: the value of KEY in the "hsload:" summary line.
hsload_field() {
	sed -n "s/^hsload: .*[ ]$2=\\([^ ]*\\).*/\\1/p" "$1" | tail -n1
}

# median: the median of the numbers on stdin (one per line; "n/a" if none).
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
