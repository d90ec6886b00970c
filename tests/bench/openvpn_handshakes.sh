#!/bin/bash
# openvpn_handshakes.sh: what an OpenVPN 2.6 server spends per full client
# handshake, next to ztvpn's figure, in the topology of handshakes.sh
# (clients in laptop1, servers in the gateway namespace, TCP both).
#
# OpenVPN: `openvpn --server` over TCP (dev tun, topology subnet, pool
# 100.64.8.0/24, TLS 1.3 only, data-ciphers AES-256-GCM, no tls-auth/
# tls-crypt, verb 1, one process). ZT_BENCH_CONCURRENCY loops in laptop1
# each run `openvpn --client --dev null` again and again: TCP connect,
# mutual TLS 1.3, key exchange, PUSH_REQUEST/PUSH_REPLY, "Initialization
# Sequence Completed"; its route-up script then sends the client SIGTERM,
# which closes the connection (the server tears the instance down). The
# server's handshakes are its "Peer Connection Initiated" lines; its CPU is
# utime+stime of its process from /proc over the run.
#
# ztvpn: ztvpn-hsload -n ZT_BENCH_CONCURRENCY -j 1 against the gateway of
# gateway.sh (handshakes.sh's core: mTLS 1.3 with the device certificate,
# USER_PROOF, ADMIT, CLOSE). ZT_BENCH_ZTVPN=0 skips it.
#
# Both use the same certificates (tests/pki/mkpki.sh, ECDSA P-256):
# OpenVPN's server presents server.crt and trusts device-ca.crt, its clients
# present devices/laptop-042 and trust server-ca.crt. A ztvpn handshake
# verifies a second chain (the user's) and a user proof that OpenVPN has no
# counterpart for. The runs alternate (ztvpn, OpenVPN, ztvpn, ...) so both
# see the same background load. It does not judge.
#
# Each OpenVPN handshake starts a client process (about 17 ms of CPU, in
# laptop1): on a 2-core machine the clients, not the server, bound the
# OpenVPN hs/s. Compare the server CPU per handshake, which does not
# include them.
#
#   sudo tests/bench/openvpn_handshakes.sh
#
# Environment: ZT_BUILD (default <repo>/build), ZT_BENCH_SECONDS (length of
# each run, default 10), ZT_BENCH_RUNS (default 3), ZT_BENCH_CONCURRENCY
# (handshakes in flight, default 8), ZT_BENCH_ZTVPN (1 = also measure
# ztvpn, default 1). Needs root and the openvpn package.
set -euo pipefail
export ZT_DEBUG=${ZT_DEBUG:-0}
# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=SCRIPTDIR/gateway.sh
. "$(dirname "$0")/gateway.sh"

secs=${ZT_BENCH_SECONDS:-10}
runs=${ZT_BENCH_RUNS:-3}
conc=${ZT_BENCH_CONCURRENCY:-8}
with_zt=${ZT_BENCH_ZTVPN:-1}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]] || ((secs > 600)); then
	echo "ZT_BENCH_SECONDS must be 1..600" >&2
	exit 2
fi
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "ZT_BENCH_RUNS must be 1..99" >&2; exit 2; }
[[ $conc =~ ^[1-9][0-9]?$ ]] || { echo "ZT_BENCH_CONCURRENCY must be 1..99" >&2; exit 2; }
[[ $with_zt == [01] ]] || { echo "ZT_BENCH_ZTVPN must be 0 or 1" >&2; exit 2; }
OPENVPN_BIN=$(command -v openvpn) ||
	{ echo "openvpn is not installed (apt-get install openvpn)" >&2; exit 2; }

OVPN_PORT=1194
if [[ $with_zt == 1 ]]; then
	bench_gateway_up openvpn-handshakes
	zt_pid=$BENCH_SERVER_PID
else
	zt_init openvpn-handshakes
	zt_pki
	topo_up 1
	bench_laptop_tuning "$NS_L1"
	bench_nofile
fi
log "$("$OPENVPN_BIN" --version | head -n1)"

ovdir=$ZT_TMP/openvpn
mkdir -p "$ovdir"
# The pool stays inside 100.64.0.0/10; no route is pushed, and the clients
# neither configure addresses nor routes (--dev null, *-noexec).
cat >"$ovdir/server.ovpn" <<EOF
mode server
tls-server
proto tcp-server
local $GW_LAN
port $OVPN_PORT
dev tun
topology subnet
server 100.64.8.0 255.255.255.0
ca $ZT_PKI/device-ca.crt
cert $ZT_PKI/server.crt
key $ZT_PKI/server.key
dh none
tls-version-min 1.3
data-ciphers AES-256-GCM
remote-cert-tls client
duplicate-cn
max-clients 4096
disable-dco
verb 1
EOF
# route-up runs once the pushed options are applied, just before
# "Initialization Sequence Completed": the handshake is over, so the client
# ends itself ($PPID of the script's shell is that openvpn process).
cat >"$ovdir/client.ovpn" <<EOF
client
proto tcp-client
remote $GW_LAN $OVPN_PORT
connect-retry-max 1
connect-timeout 5
dev null
nobind
ifconfig-noexec
route-noexec
ca $ZT_PKI/server-ca.crt
cert $ZT_PKI/devices/laptop-042.crt
key $ZT_PKI/devices/laptop-042.key
remote-cert-tls server
tls-version-min 1.3
data-ciphers AES-256-GCM
script-security 2
route-up "/bin/sh -c 'kill -TERM \$PPID'"
verb 1
EOF
# One loop of clients: for SECS seconds and at most MAX attempts, one
# openvpn client at a time, each bounded by timeout(1). On SIGTERM it ends
# its current client by PID. At the end, `times` prints the CPU of its
# children (the clients, reaped) on its last line, before "worker:".
cat >"$ovdir/worker.sh" <<'EOF'
#!/bin/bash
set -u
conf=$1 secs=$2 max=$3
child=
trap 'if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null; fi; exit 143' TERM INT
end=$((${EPOCHREALTIME/./} + secs * 1000000))
n=0
while ((n < max && ${EPOCHREALTIME/./} < end)); do
	n=$((n + 1))
	timeout -k 2 15 openvpn --config "$conf" &
	child=$!
	wait "$child" || true
	child=
done
times
echo "worker: attempts=$n"
EOF

start_bg openvpn "$NS_GW" "$OPENVPN_BIN" --config "$ovdir/server.ovpn"
ov_pid=$(bg_pid openvpn)
ov_log=$(bg_log openvpn)
wait_for 10 has_line 'Initialization Sequence Completed' "$ov_log" ||
	{ diag "$ov_log"; bail "openvpn server did not start"; }

# cpu_s "XmY.YYYs": seconds.
cpu_s() {
	awk -v t="$1" 'BEGIN { split(t, a, "m"); sub("s", "", a[2]); printf "%.3f", a[1] * 60 + a[2] }'
}

OV_HS='' OV_DONE='' OV_WALL='' OV_TICKS='' OV_CLIENT_S=''
# openvpn_run NAME SECS: CONC client loops for SECS; sets OV_HS (server's
# "Peer Connection Initiated" lines), OV_DONE (clients that logged
# "Initialization Sequence Completed"), OV_WALL (s), OV_TICKS (server CPU),
# OV_CLIENT_S (CPU of the client processes).
openvpn_run() {
	local name=$1 s=$2 i w h0 c0 t0 f line u sy
	local -a names=()
	h0=$(count 'Peer Connection Initiated' "$ov_log")
	c0=$(tree_cpu_ticks "$ov_pid")
	t0=$(now_us)
	for ((i = 1; i <= conc; i++)); do
		w=$name-w$i
		start_bg "$w" "$NS_L1" bash "$ovdir/worker.sh" "$ovdir/client.ovpn" "$s" 100000
		names+=("$w")
	done
	for w in "${names[@]}"; do
		bg_wait "$w" $((s + 30)) || { log "$w still running; stopping it"; bg_stop "$w"; }
	done
	OV_WALL=$(awk -v us=$(($(now_us) - t0)) 'BEGIN { printf "%.3f", us / 1e6 }')
	# The server notices the last closes within milliseconds.
	sleep 0.5
	OV_TICKS=$(($(tree_cpu_ticks "$ov_pid") - c0))
	OV_HS=$(($(count 'Peer Connection Initiated' "$ov_log") - h0))
	OV_DONE=0 OV_CLIENT_S=0
	for w in "${names[@]}"; do
		f=$(bg_log "$w")
		OV_DONE=$((OV_DONE + $(count 'Initialization Sequence Completed' "$f")))
		line=$(grep -E '^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$' "$f" | tail -n1) || line=
		[[ -n $line ]] || continue
		read -r u sy <<<"$line"
		OV_CLIENT_S=$(awk -v a="$OV_CLIENT_S" -v b="$(cpu_s "$u")" -v c="$(cpu_s "$sy")" \
			'BEGIN { printf "%.3f", a + b + c }')
	done
}

# result IMPL HS DONE WALL TICKS CLIENT_S: one line of $results:
# impl hs/s done srv_cpu% srv_ms_per_hs hs_per_srv_cpu_s client_ms_per_hs
result() {
	awk -v impl="$1" -v hs="$2" -v done="$3" -v wall="$4" -v ticks="$5" -v cl="$6" \
		-v tck="$CLK_TCK" 'BEGIN {
		s = ticks / tck
		printf "%s %.0f %d %.0f %s %s %s\n", impl, hs / wall, done, 100 * s / wall,
			(hs > 0 ? sprintf("%.2f", 1000 * s / hs) : "n/a"),
			(s > 0 ? sprintf("%.0f", hs / s) : "n/a"),
			(done > 0 ? sprintf("%.1f", 1000 * cl / done) : "n/a")
	}'
}

zt_run() { # zt_run NAME SECS: one ztvpn-hsload run; appends to $results
	local name=$1 s=$2 c0 c1 out hs
	c0=$(tree_cpu_ticks "$zt_pid")
	run_fg "$name" $((s + 30)) "$NS_L1" "$HSLOAD_BIN" -c "$HSLOAD_CONF" -n "$conc" -j 1 -t "$s"
	c1=$(tree_cpu_ticks "$zt_pid")
	out=$(bg_log "$name")
	hs=$(hsload_field "$out" handshakes)
	if [[ -z $hs ]]; then
		log "$name: no result (exit status $FG_STATUS)"
		diag "$out" >&2
		return 0
	fi
	result ztvpn "$hs" "$hs" "$s" $((c1 - c0)) "$(hsload_field "$out" cpu_s)" >>"$results"
	log "$name: $(tail -n1 "$results")"
}

results=$ZT_TMP/results
: >"$results"
log "warm-up: 2 s each"
openvpn_run ov-warmup 2
((OV_DONE > 0)) || { diag "$(bg_log ov-warmup-w1)" "$ov_log"; bail "no OpenVPN handshake completed"; }
if [[ $with_zt == 1 ]]; then
	run_fg zt-warmup 30 "$NS_L1" "$HSLOAD_BIN" -c "$HSLOAD_CONF" -n "$conc" -j 1 -t 2
fi

log "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= runs; r++)); do
	[[ $with_zt == 1 ]] && zt_run "zt-r$r" "$secs"
	openvpn_run "ov-r$r" "$secs"
	result openvpn "$OV_HS" "$OV_DONE" "$OV_WALL" "$OV_TICKS" "$OV_CLIENT_S" >>"$results"
	log "ov-r$r: $(tail -n1 "$results")"
done

col() { # col IMPL N: median of column N over the runs of IMPL
	awk -v i="$1" -v c="$2" '$1 == i && $c != "n/a" { print $c }' "$results" | median
}

printf '\nFull handshakes from laptop1 to the gateway (TCP, mutual TLS 1.3, ECDSA P-256), %d in flight,\n' "$conc"
printf '%d s per run, median of %d runs, %d CPUs\n' "$secs" "$runs" "$(nproc)"
printf '%-12s %8s %10s %9s %14s %13s %15s\n' server "hs/s" "completed" "srv CPU%" \
	"srv CPU ms/hs" "hs/srv CPU-s" "client CPU ms/hs"
impls=(openvpn)
[[ $with_zt == 1 ]] && impls=(ztvpn openvpn)
for impl in "${impls[@]}"; do
	printf '%-12s %8s %10s %9s %14s %13s %15s\n' "$impl" "$(col "$impl" 2)" "$(col "$impl" 3)" \
		"$(col "$impl" 4)" "$(col "$impl" 5)" "$(col "$impl" 6)" "$(col "$impl" 7)"
done
printf 'hs: ztvpn: ADMITs counted by ztvpn-hsload; openvpn: "Peer Connection Initiated" in the server log\n'
printf 'completed: clients that finished (ztvpn ADMIT; openvpn "Initialization Sequence Completed", after PUSH_REPLY)\n'
printf 'srv CPU: utime+stime of the server (ztvpn: its process tree; openvpn: its one process), 100%% = one core\n'
printf 'client CPU: the load side in laptop1; for openvpn it includes starting a client process per\n'
printf 'handshake, which the server CPU does not: compare servers by srv CPU ms/hs and hs/srv CPU-s\n'
