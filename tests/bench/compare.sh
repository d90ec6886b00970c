#!/bin/bash
# compare.sh: ztvpn beside the VPNs it is measured against, in one run and
# one topology (tests/integration/lib.sh, topo_up 1: laptop1 -- gateway --
# corp), one after another:
#
#   plain        plain routing, no VPN (the ceiling)
#   ztvpn-udp    ztvpn with udp_listen (data over UDP once the build has it)
#   ztvpn-tls    ztvpn without udp_listen (data over the TLS stream)
#   openvpn-udp  OpenVPN 2.6 over UDP          openvpn-tcp  ... over TCP
#   wireguard    wireguard-go (user space; never the kernel module)
#   ocserv-dtls  ocserv + openconnect, DTLS    ocserv-tls   ... --no-dtls
#
# Each is configured here with throwaway keys and certificates (peers/*.sh,
# one file per VPN), server in the gateway namespace, client in laptop1,
# routing 198.51.100.0/24 through its tunnel (MTU 1400 where settable;
# AES-256-GCM where selectable), and torn down completely before the next.
# For each: ping RTT laptop -> corp host through the tunnel (20 pings,
# 0.2 s apart, average), iperf3 single stream laptop -> corp and corp ->
# laptop (-R), iperf3 with 4 streams laptop -> corp, and the CPU seconds
# (utime+stime from /proc) of the VPN's server and client process trees
# over those three iperf3 runs. Then one markdown table, with each VPN's
# single-stream throughput as a ratio to ztvpn-udp's, the ratios of issue
# 4's bar, and the environment. It measures; it does not judge.
#
#   sudo tests/bench/compare.sh [--json FILE]
#
# Environment: ZT_BUILD (default <repo>/build), ZT_BENCH_SECONDS (each
# iperf3 run, default 10), ZT_BENCH_RUNS (rounds over all VPNs, default 1;
# with more the table shows medians), ZT_BENCH_ONLY (comma-separated names
# from the list above, e.g. "ztvpn-udp,wireguard"), ZT_BENCH_WORKERS
# (`workers = N;` in ztvpn's server.conf, if the build accepts it),
# ZT_DEBUG=1 (debug logging in ztvpn, default off). Needs root; installs
# the VPNs it lacks with `packaging/install-deps.sh --bench`.
set -euo pipefail
export ZT_DEBUG=${ZT_DEBUG:-0}
# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=SCRIPTDIR/gateway.sh
. "$(dirname "$0")/gateway.sh"
for f in "$(dirname "$0")"/peers/*.sh; do
	# shellcheck source=/dev/null
	. "$f"
done

ALL_PEERS=(plain ztvpn-udp ztvpn-tls openvpn-udp openvpn-tcp wireguard ocserv-dtls ocserv-tls)
PINGS=20

usage() {
	echo "usage: $0 [--json FILE]" >&2
	exit 2
}
json_out=
while (($# > 0)); do
	case $1 in
	--json)
		(($# >= 2)) || usage
		json_out=$(realpath -m "$2")
		shift 2
		;;
	*) usage ;;
	esac
done

secs=${ZT_BENCH_SECONDS:-10}
runs=${ZT_BENCH_RUNS:-1}
workers=${ZT_BENCH_WORKERS:-}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]] || ((secs > 600)); then
	echo "ZT_BENCH_SECONDS must be 1..600" >&2
	exit 2
fi
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "ZT_BENCH_RUNS must be 1..99" >&2; exit 2; }
if [[ -n $workers ]] && { ! [[ $workers =~ ^[1-9][0-9]?$ ]] || ((workers > 64)); }; then
	echo "ZT_BENCH_WORKERS must be 1..64" >&2
	exit 2
fi
peers=()
if [[ -n ${ZT_BENCH_ONLY:-} ]]; then
	IFS=, read -r -a want <<<"$ZT_BENCH_ONLY"
	for w in "${want[@]}"; do
		[[ " ${ALL_PEERS[*]} " == *" $w "* ]] ||
			{ echo "ZT_BENCH_ONLY: unknown '$w' (known: ${ALL_PEERS[*]})" >&2; exit 2; }
	done
	for p in "${ALL_PEERS[@]}"; do
		[[ ",$ZT_BENCH_ONLY," == *",$p,"* ]] && peers+=("$p")
	done
else
	peers=("${ALL_PEERS[@]}")
fi

zt_init compare
if [[ -z $(command -v iperf3) || -z $(command -v python3) || -z $(command -v openvpn) ||
	-z $(command -v wireguard-go) || -z $(command -v wg) || -z $(command -v ocserv) ||
	-z $(command -v openconnect) ]]; then
	log "installing the benchmark's peers: packaging/install-deps.sh --bench"
	"$ZT_REPO/packaging/install-deps.sh" --bench >"$ZT_TMP/install-deps.log" 2>&1 ||
		{ diag "$ZT_TMP/install-deps.log"; bail "packaging/install-deps.sh --bench failed"; }
fi
[[ " ${peers[*]} " != *" ztvpn-"* ]] || require_bins server client "$CTL_BIN"
zt_pki
topo_up 1

start_bg iperf3 "$NS_CORP" iperf3 -s -B "$CORP_ADDR"
wait_for 5 port_listening "$NS_CORP" 5201 || bail "iperf3 server did not start"

# iperf NAME ARGS...: one iperf3 run from laptop1 to corp; prints
# "MBIT_PER_S BYTES" as received ("n/a 0" if it failed).
iperf() {
	local name=$1
	shift
	run_fg "$name" $((secs + 30)) "$NS_L1" iperf3 -c "$CORP_ADDR" -t "$secs" -J "$@"
	if [[ $FG_STATUS != 0 ]]; then
		log "iperf3 $name failed (status $FG_STATUS)" >&2
		echo "n/a 0"
		return 0
	fi
	python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["end"]["sum_received"]
print("%.1f %d" % (s["bits_per_second"] / 1e6, s["bytes"]))
' "$(bg_log "$name")" 2>/dev/null || echo "n/a 0"
}

# ping_avg: average RTT in ms of $PINGS pings from laptop1 to corp ("n/a"
# if none came back).
ping_avg() {
	local out
	out=$(nsx "$NS_L1" timeout -k 2 30 ping -n -q -c "$PINGS" -i 0.2 -W 2 "$CORP_ADDR" 2>&1) || true
	sed -n 's|^rtt [^=]*= [0-9.]*/\([0-9.]*\)/.*|\1|p' <<<"$out" | grep . || echo n/a
}

# cpu_s PID T0: CPU seconds of PID's tree since it had T0 ticks ("n/a"
# without a PID).
cpu_s() {
	[[ -n $1 ]] || { echo n/a; return 0; }
	awk -v a="$2" -v b="$(tree_cpu_ticks "$1")" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }'
}

# dev_mtu NS DEV: the MTU of DEV in NS ("?" if there is no such device).
dev_mtu() {
	nsx "$1" cat "/sys/class/net/${2:-none}/mtu" 2>/dev/null || echo "?"
}

# via_tunnel: laptop1's route to the corp host leaves through $PEER_DEV.
via_tunnel() {
	nsx "$NS_L1" ip -4 route get "$CORP_ADDR" 2>/dev/null | grep -qw "dev $PEER_DEV"
}

# leftovers: interfaces besides the topology's own in laptop1 and the
# gateway (what a peer failed to remove).
leftovers() {
	{
		ip -n "$NS_L1" -br link show | awk '{ sub("@.*", "", $1); print $1 }' | grep -vxE 'lo|eth0'
		ip -n "$NS_GW" -br link show | awk '{ sub("@.*", "", $1); print $1 }' | grep -vxE 'lo|br0|l1|eth1'
	} | tr '\n' ' ' || true
}

# proc_start PID: the start time of PID (field 22 of its stat), which
# with the PID names one process (a PID can be reused, the pair cannot).
proc_start() {
	local stat rest
	local -a f
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	rest=${stat##*) }
	read -r -a f <<<"$rest"
	printf '%s' "${f[19]}"
}

# tree_ids PID: "PID:START" of each process of PID's tree.
tree_ids() {
	local p
	[[ -n $1 ]] || return 0
	for p in $(tree_pids "$1"); do
		printf '%s:%s\n' "$p" "$(proc_start "$p")"
	done
}

# stop_tree PID:START...: after a peer's down, end what is left of the
# process trees it had (e.g. children that outlived their daemon), each
# only if that PID is still the same process.
stop_tree() {
	local p start
	for p in "$@"; do
		IFS=: read -r p start <<<"$p"
		[[ -n $start && $(proc_start "$p") == "$start" ]] || continue
		log "$PEER_TAG: $(cat "/proc/$p/comm" 2>/dev/null) (pid $p) outlived its parent; ending it"
		kill -TERM "$p" 2>/dev/null || true
	done
}

results=$ZT_TMP/results.tsv
: >"$results"
# measure NAME RUN: bring NAME up, measure, tear it down; appends a line
# to $results: run name ok mtu up down p4 rtt srv_s cli_s gbytes note.
measure() {
	local name=$1 run=$2 file=${1%%-*} mode='' mtu=n/a up down p4 rtt='n/a'
	local c0s=0 c0c=0 srv=n/a cli=n/a bup=0 bdown=0 bp4=0 status=ok left
	local -a ids=()
	[[ $name == *-* ]] && mode=${name#*-}
	PEER_TAG=r$run-$name PEER_DEV='' PEER_GW_DEV='' PEER_SRV_PID='' PEER_CLI_PID='' PEER_NOTE=''
	up='n/a' down='n/a' p4='n/a'
	log "== $name, round $run of $runs =="
	if ! "peer_${file}_up" "$mode"; then
		status=failed PEER_NOTE="did not come up${PEER_NOTE:+; $PEER_NOTE}"
	elif ! via_tunnel; then
		status=failed PEER_NOTE="corp is not routed via ${PEER_DEV:-?}"
	elif ! wait_for 10 ping_ok "$NS_L1" "$CORP_ADDR" 1; then
		status=failed PEER_NOTE="no ping through ${PEER_DEV:-?}"
	fi
	if [[ $status == ok ]]; then
		mtu=$(dev_mtu "$NS_L1" "$PEER_DEV")/$(dev_mtu "$NS_GW" "$PEER_GW_DEV")
		log "$name: $PEER_NOTE; MTU laptop $PEER_DEV / gateway $PEER_GW_DEV: $mtu"
		rtt=$(ping_avg)
		[[ -z $PEER_SRV_PID ]] || c0s=$(tree_cpu_ticks "$PEER_SRV_PID")
		[[ -z $PEER_CLI_PID ]] || c0c=$(tree_cpu_ticks "$PEER_CLI_PID")
		read -r up bup < <(iperf "$PEER_TAG-up")
		read -r down bdown < <(iperf "$PEER_TAG-down" -R)
		read -r p4 bp4 < <(iperf "$PEER_TAG-p4" -P 4)
		srv=$(cpu_s "$PEER_SRV_PID" "$c0s")
		cli=$(cpu_s "$PEER_CLI_PID" "$c0c")
		! declare -F "peer_${file}_after" >/dev/null || "peer_${file}_after"
		log "$name: up $up, down $down, 4 streams $p4 Mbit/s, RTT $rtt ms, CPU server $srv s, client $cli s"
	else
		log "$name: $PEER_NOTE"
	fi
	mapfile -t ids < <(tree_ids "$PEER_SRV_PID"; tree_ids "$PEER_CLI_PID")
	"peer_${file}_down"
	((${#ids[@]} == 0)) || stop_tree "${ids[@]}"
	left=$(leftovers)
	if [[ -n $left ]]; then
		log "$name left interfaces behind: $left"
		PEER_NOTE+="; left interfaces: $left"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$status" "$mtu" \
		"$up" "$down" "$p4" "$rtt" "$srv" "$cli" \
		"$(awk -v a="$bup" -v b="$bdown" -v c="$bp4" 'BEGIN { printf "%.3f", (a + b + c) / 1e9 }')" \
		"$PEER_NOTE" >>"$results"
}

# The environment, as "key<TAB>value" lines.
envfile=$ZT_TMP/env.tsv
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
ztvpn_version() {
	local c
	c=$(git -C "$ZT_REPO" rev-parse --short HEAD 2>/dev/null) || { echo unknown; return 0; }
	git -C "$ZT_REPO" diff-index --quiet HEAD -- 2>/dev/null || c+=" + uncommitted changes"
	printf '%s' "$c"
}
{
	printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf 'kernel\t%s\n' "$(uname -r)"
	printf 'cpu\t%s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
	printf 'nproc\t%s\n' "$(nproc)"
	printf 'load_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf 'ztvpn\t%s (%s)\n' "$(ztvpn_version)" "$ZT_BUILD"
	for p in android-libboringssl openvpn wireguard-go wireguard-tools ocserv openconnect iperf3; do
		printf '%s\t%s\n' "$p" "$(pkgver "$p")"
	done
	printf 'seconds\t%s\nruns\t%s\nworkers\t%s\npings\t%s\n' "$secs" "$runs" "${workers:-unset}" "$PINGS"
} >"$envfile"
log "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $secs s per iperf3 run, $runs round(s)"

for ((r = 1; r <= runs; r++)); do
	for p in "${peers[@]}"; do
		measure "$p" "$r"
	done
done
printf 'load_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$envfile"
reports=$(sanitizer_reports)
[[ -z $reports ]] || log "sanitizer reports (ZT_KEEP=1 keeps them) in: $reports"

python3 - "$results" "$envfile" "$json_out" <<'PY'
import json, statistics, sys

res_path, env_path, json_path = sys.argv[1:4]
env = dict(l.rstrip("\n").split("\t", 1) for l in open(env_path) if "\t" in l)
order, rows = [], {}
fields = ["up", "down", "p4", "rtt", "srv_cpu_s", "cli_cpu_s", "gbytes"]
for line in open(res_path):
    run, name, status, mtu, *vals = line.rstrip("\n").split("\t")
    note = vals.pop()
    if name not in rows:
        order.append(name)
        rows[name] = []
    rec = {"run": int(run), "status": status, "mtu": mtu, "note": note}
    for k, v in zip(fields, vals):
        try:
            rec[k] = float(v)
        except ValueError:
            rec[k] = None
    rows[name].append(rec)

def med(name, k):
    v = [r[k] for r in rows.get(name, []) if r["status"] == "ok" and r[k] is not None]
    return statistics.median(v) if v else None

summary = {}
for n in order:
    s = {k: med(n, k) for k in fields}
    cpu = [x for x in (s["srv_cpu_s"], s["cli_cpu_s"]) if x is not None]
    s["cpu_s_per_gb"] = (sum(cpu) / s["gbytes"]) if cpu and s["gbytes"] else None
    s["ok_runs"] = sum(r["status"] == "ok" for r in rows[n])
    s["note"] = rows[n][-1]["note"]
    s["mtu"] = rows[n][-1]["mtu"]
    summary[n] = s

def ratio(a, b):
    return a / b if a is not None and b else None

base = summary.get("ztvpn-udp", {})
for n, s in summary.items():
    s["up_vs_ztvpn_udp"] = ratio(s["up"], base.get("up"))
    s["down_vs_ztvpn_udp"] = ratio(s["down"], base.get("down"))

def f(v, spec="%.0f"):
    return "n/a" if v is None else spec % v

runs = int(env["runs"])
print()
print("### VPN comparison, iperf3 TCP, %s s per run, %s" % (
    env["seconds"], "median of %d rounds" % runs if runs > 1 else "one round"))
print()
print("| VPN | Mbit/s laptop->corp | Mbit/s corp->laptop | Mbit/s 4 streams | RTT ms | server CPU s | client CPU s | CPU s/GB | up vs ztvpn-udp | down vs ztvpn-udp | MTU laptop/gw | notes |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for n in order:
    s = summary[n]
    note = s["note"]
    if s["ok_runs"] < len(rows[n]):
        note += " (%d of %d rounds failed)" % (len(rows[n]) - s["ok_runs"], len(rows[n]))
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        n, f(s["up"]), f(s["down"]), f(s["p4"]), f(s["rtt"], "%.3f"),
        f(s["srv_cpu_s"], "%.2f"), f(s["cli_cpu_s"], "%.2f"), f(s["cpu_s_per_gb"], "%.2f"),
        f(s["up_vs_ztvpn_udp"], "%.2f"), f(s["down_vs_ztvpn_udp"], "%.2f"),
        s["mtu"], note.replace("|", "/")))
print()
print("CPU s: utime+stime of the VPN's server (gateway) and client (laptop1) process trees over")
print("the three iperf3 runs; CPU s/GB: both ends together per GB received in those runs.")
print("RTT: average of %s pings laptop1 -> 198.51.100.10 through the idle tunnel." % env["pings"])
print("Ciphers: AES-256-GCM, except WireGuard (ChaCha20-Poly1305, its only one) and ztvpn's")
print("TLS stream (the TLS 1.3 suite BoringSSL picks, named in its notes).")

ratios = {}
def best(names, k):
    c = [(summary[n][k], n) for n in names if n in summary and summary[n][k] is not None]
    return max(c) if c else (None, None)
udp_peers = ["openvpn-udp", "wireguard", "ocserv-dtls"]
lines = []
for k, label in (("up", "laptop->corp"), ("down", "corp->laptop")):
    v, who = best(udp_peers, k)
    r = ratio(summary.get("ztvpn-udp", {}).get(k), v)
    ratios["ztvpn_udp_vs_best_udp_peer_" + k] = r
    lines.append("- ztvpn-udp / fastest UDP peer, %s: %s (%s: %s Mbit/s)" % (label, f(r, "%.2f"), who or "none", f(v)))
for k, label in (("up", "laptop->corp"), ("down", "corp->laptop")):
    r = ratio(summary.get("ztvpn-tls", {}).get(k), summary.get("ocserv-tls", {}).get(k))
    ratios["ztvpn_tls_vs_ocserv_tls_" + k] = r
    lines.append("- ztvpn-tls / ocserv-tls, %s: %s" % (label, f(r, "%.2f")))
plain_rtt = summary.get("plain", {}).get("rtt")
def added(n):
    v = summary.get(n, {}).get("rtt")
    return v - plain_rtt if v is not None and plain_rtt is not None else None
peer_added = [(added(n), n) for n in ["openvpn-udp", "openvpn-tcp", "wireguard", "ocserv-dtls", "ocserv-tls"] if added(n) is not None]
bp = min(peer_added) if peer_added else (None, None)
ratios["ztvpn_udp_added_rtt_ms"] = added("ztvpn-udp")
ratios["best_peer_added_rtt_ms"] = bp[0]
lines.append("- RTT added over plain routing: ztvpn-udp %s ms, best peer %s ms (%s)" % (
    f(added("ztvpn-udp"), "%.3f"), f(bp[0], "%.3f"), bp[1] or "none"))
print()
print("Ratios of issue 4's bar (single stream, same run):")
print("\n".join(lines))

print()
print("Environment: kernel %s, CPU %s, %s CPUs, load average %s at the start and %s at the end" % (
    env["kernel"], env["cpu"], env["nproc"], env["load_start"], env.get("load_end", "?")))
print("ztvpn %s, ZT_BENCH_WORKERS %s; BoringSSL (android-libboringssl) %s" % (
    env["ztvpn"], env["workers"], env["android-libboringssl"]))
print("Debian packages: " + ", ".join("%s %s" % (p, env[p]) for p in
    ("openvpn", "wireguard-go", "wireguard-tools", "ocserv", "openconnect", "iperf3")))
print("Date %s. On a shared machine the figures are only as quiet as its load." % env["date"])

if json_path:
    out = {"environment": env, "peers": summary,
           "runs": {n: rows[n] for n in order}, "ratios": ratios}
    with open(json_path, "w") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print("JSON: %s" % json_path)
PY
