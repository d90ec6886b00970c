# shellcheck shell=bash
# lib.sh: helpers for the ztvpn network-namespace integration tests.
# Source it from a test script (after `set -euo pipefail`), then call
# zt_init NAME. Everything a test creates lives under names derived from
# NAME and the test's PID, and the EXIT/INT/TERM trap removes all of it:
#   - processes started with start_bg (ended by their recorded PID only:
#     SIGTERM, up to 3 s, then SIGKILL; never pkill/killall),
#   - the network namespaces made by topo_up (and /etc/netns/<ns>),
#   - the temporary directory $ZT_TMP (kept if ZT_KEEP=1).
#
# Topology (topo_up):
#
#   laptop1 eth0 192.0.2.2/24 --+
#                               +-- br0 192.0.2.1/24 [gateway] eth1 198.51.100.1/24 -- eth0 198.51.100.10/24 [corp]
#   laptop2 eth0 192.0.2.3/24 --+
#
#   The gateway forwards (net.ipv4.ip_forward=1); corp routes 100.64.0.0/10
#   via 198.51.100.1. No default routes, no link to the host.
#   Namespace names: $NS_GW, $NS_L1, $NS_L2, $NS_CORP.
#   topo_v6 adds fd00:c0::1/64 (gateway eth1) -- fd00:c0::10/64 (corp),
#   IPv6 forwarding on the gateway and a corp route to fd00:5a::/64.
#
# Output is TAP: ok/not_ok/check print "ok N - ..." or "not ok N - ...",
# log prints "# ..." progress lines; zt_finish prints the plan "1..N" and
# exits 1 if anything failed. A test that cannot run as non-root exits 77.
#
# Environment: ZT_BUILD (build directory, default <repo>/build), ZT_KEEP=1
# keeps $ZT_TMP for inspection, ZT_VERBOSE=1 shows process logs on failure
# in full rather than their last 40 lines, ZT_DEBUG=0 starts ztvpn-server
# and ztvpn-client without -d.

ZT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
ZT_BUILD=$(realpath -m "${ZT_BUILD:-$ZT_REPO/build}")
SERVER_BIN=$ZT_BUILD/server/ztvpn-server
CLIENT_BIN=$ZT_BUILD/client/ztvpn-client
TESTPEER_BIN=$ZT_BUILD/tests/tools/ztvpn-testpeer
# The test PKI's maker: mkpki.sh (openssl CLI) by default; with
# ZT_PKI_MAKER=tool, mkpki-tool.sh (the same PKI made by ztvpn-pki).
MKPKI=$ZT_REPO/tests/pki/mkpki.sh
if [[ ${ZT_PKI_MAKER:-openssl} == tool ]]; then
	MKPKI=$ZT_REPO/tests/pki/mkpki-tool.sh
	export ZTVPN_PKI=$ZT_BUILD/common/pki/ztvpn-pki
fi

# Addresses of the topology.
GW_LAN=192.0.2.1
L1_ADDR=192.0.2.2
L2_ADDR=192.0.2.3
GW_CORP=198.51.100.1
CORP_ADDR=198.51.100.10
SERVER_ENDPOINT=$GW_LAN:8443
# IPv6 (topo_v6): the corp link and the tunnel pool, all inside fd00::/8.
GW_CORP6=fd00:c0::1
CORP_ADDR6=fd00:c0::10
# shellcheck disable=SC2034 # CORP_NET6 is read by the tests
CORP_NET6=fd00:c0::/64
POOL6=fd00:5a::/64

ZT_NAME=
ZT_TMP=
ZT_PKI=
NS_GW=''
NS_L1=''
NS_L2=''
NS_CORP=''
ZT_T_N=0
ZT_T_FAILED=0
BG_STATUS=
declare -A ZT_PID=()
declare -a ZT_BG_ORDER=()
declare -a ZT_NETNS=()

log() {
	printf '# %s\n' "$*"
}

# diag FILE...: show (the end of) files as TAP comments.
diag() {
	local f n=40
	[[ ${ZT_VERBOSE:-0} == 1 ]] && n=100000
	for f in "$@"; do
		[[ -s $f ]] || continue
		printf '# --- %s (last %d lines) ---\n' "${f#"$ZT_TMP"/}" "$n"
		tail -n "$n" "$f" | sed 's/^/#   /'
	done
}

ok() {
	ZT_T_N=$((ZT_T_N + 1))
	printf 'ok %d - %s\n' "$ZT_T_N" "$*"
}

not_ok() {
	ZT_T_N=$((ZT_T_N + 1))
	ZT_T_FAILED=$((ZT_T_FAILED + 1))
	printf 'not ok %d - %s\n' "$ZT_T_N" "$*"
}

# check DESCRIPTION CMD...: ok if CMD succeeds, not ok otherwise. Always
# returns 0 (the result is recorded), so it is safe under set -e.
check() {
	local desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		not_ok "$desc"
	fi
	return 0
}

# quiet CMD...: run CMD with its output discarded.
quiet() { "$@" >/dev/null 2>&1; }

# fails CMD...: succeed if CMD fails.
fails() { ! "$@"; }

# must DESCRIPTION CMD...: like check, but a failure ends the test (for
# steps everything after depends on).
must() {
	local desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		not_ok "$desc"
		log "bailing out: later checks depend on this one"
		zt_finish
	fi
}

# sanitizer_reports: names of process logs with AddressSanitizer,
# LeakSanitizer or UndefinedBehaviorSanitizer reports.
sanitizer_reports() {
	local f
	for f in "${ZT_TMP:-/nonexistent}"/*.log; do
		[[ -f $f ]] || continue
		if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: ' "$f"; then
			printf '%s ' "${f##*/}"
		fi
	done
}

# zt_finish: print the plan and exit 0 only if every check passed.
zt_finish() {
	local reports
	reports=$(sanitizer_reports)
	if [[ -n $reports ]]; then
		not_ok "sanitizer reports in: $reports"
	fi
	printf '1..%d\n' "$ZT_T_N"
	if ((ZT_T_FAILED > 0)); then
		log "$ZT_T_FAILED of $ZT_T_N checks failed in $ZT_NAME; process logs:"
		diag "${ZT_TMP:-/nonexistent}"/*.log
		exit 1
	fi
	((ZT_T_N > 0)) || exit 1
	exit 0
}

# bail REASON: stop the test now (setup failed); counts as a failure.
bail() {
	not_ok "$*"
	log "bailing out: $*"
	zt_finish
}

# --- time and polling --------------------------------------------------------

now_us() {
	local t=${EPOCHREALTIME/./}
	printf '%s' "$((10#$t))"
}

# wait_for TIMEOUT CMD...: run CMD every 0.1 s until it succeeds (return 0)
# or TIMEOUT seconds (an integer) have passed (return 1). Bounded both in
# time and in the number of attempts.
wait_for() {
	local timeout=$1
	shift
	local deadline=$(($(now_us) + timeout * 1000000))
	local tries=$((timeout * 10 + 1))
	while ((tries-- > 0)); do
		if "$@"; then
			return 0
		fi
		(($(now_us) < deadline)) || return 1
		sleep 0.1
	done
	return 1
}

# --- background processes ----------------------------------------------------

# is_ours PID: the process exists, is not a zombie, and is a child of this
# shell (so a recycled PID is never touched). Call start_bg and the
# functions that use it from the test's main shell, not from a subshell.
is_ours() {
	local stat rest ppid state
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	rest=${stat##*) }
	read -r state ppid _ <<<"$rest"
	[[ $ppid == "$$" && $state != Z ]]
}

# start_bg NAME NS CMD...: run CMD in namespace NS in the background,
# stdout+stderr to $ZT_TMP/NAME.log, working directory $ZT_TMP. The
# recorded PID is the program itself (ip netns exec execs it).
start_bg() {
	local name=$1 ns=$2
	shift 2
	[[ -z ${ZT_PID[$name]:-} ]] || bail "start_bg: name $name already used"
	(cd "$ZT_TMP" && exec ip netns exec "$ns" "$@") \
		</dev/null >"$ZT_TMP/$name.log" 2>&1 &
	ZT_PID[$name]=$!
	ZT_BG_ORDER+=("$name")
}

bg_pid() { printf '%s' "${ZT_PID[$1]}"; }
bg_log() { printf '%s' "$ZT_TMP/$1.log"; }

bg_alive() {
	local pid=${ZT_PID[$1]:-}
	[[ -n $pid ]] && is_ours "$pid"
}

bg_dead() { ! bg_alive "$1"; }

# bg_wait NAME TIMEOUT: wait until NAME exits; BG_STATUS = its exit status.
# Returns 1 (and leaves it running) if it is still alive after TIMEOUT s.
bg_wait() {
	local name=$1 timeout=$2 pid=${ZT_PID[$1]}
	BG_STATUS=
	wait_for "$timeout" bg_dead "$name" || return 1
	BG_STATUS=0
	wait "$pid" 2>/dev/null || BG_STATUS=$?
	return 0
}

# bg_stop NAME [SIGNAL]: SIGNAL (default TERM), then SIGKILL after 3 s.
# BG_STATUS = exit status.
bg_stop() {
	local name=$1 sig=${2:-TERM} pid=${ZT_PID[$1]:-}
	BG_STATUS=
	[[ -n $pid ]] || return 0
	if is_ours "$pid"; then
		kill "-$sig" "$pid" 2>/dev/null || true
		if ! wait_for 3 bg_dead "$name" && is_ours "$pid"; then
			log "$name (pid $pid) ignored SIG$sig for 3 s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	BG_STATUS=0
	wait "$pid" 2>/dev/null || BG_STATUS=$?
	return 0
}

# bg_forget NAME: after bg_wait/bg_stop, allow NAME to be reused.
bg_forget() {
	unset "ZT_PID[$1]"
}

# --- setup and cleanup -------------------------------------------------------

zt_cleanup() {
	local status=$? name ns
	trap - EXIT INT TERM
	set +e
	for name in "${ZT_BG_ORDER[@]}"; do
		[[ -n ${ZT_PID[$name]:-} ]] && bg_stop "$name"
	done
	for ns in "${ZT_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
	if [[ -n $ZT_TMP && -d $ZT_TMP ]]; then
		if [[ ${ZT_KEEP:-0} == 1 ]]; then
			log "kept $ZT_TMP"
		else
			rm -rf "$ZT_TMP"
		fi
	fi
	exit "$status"
}

# zt_init NAME: root check, temp dir, trap. Sets ZT_TMP and NS_*.
zt_init() {
	ZT_NAME=$1
	if [[ $(id -u) != 0 ]]; then
		echo "1..0 # SKIP $ZT_NAME needs root (network namespaces)"
		exit 77
	fi
	ZT_TMP=$(mktemp -d "/tmp/ztvpn-$ZT_NAME.XXXXXX")
	chmod 0755 "$ZT_TMP"
	trap zt_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	local p="zt-$ZT_NAME-$$"
	NS_GW=$p-gw NS_L1=$p-laptop1 NS_L2=$p-laptop2 NS_CORP=$p-corp
	log "$ZT_NAME: build $ZT_BUILD, temp $ZT_TMP"
}

# require_bins [server] [client] [testpeer]: bail out if a program is missing.
require_bins() {
	local b path
	for b in "$@"; do
		case $b in
		server) path=$SERVER_BIN ;;
		client) path=$CLIENT_BIN ;;
		testpeer) path=$TESTPEER_BIN ;;
		*) path=$b ;;
		esac
		[[ -x $path ]] || bail "missing program $path (build first, or set ZT_BUILD)"
	done
}

nsx() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

new_ns() {
	ip netns add "$1"
	ZT_NETNS+=("$1")
	# Anything that rewrites /etc/resolv.conf inside the namespace writes
	# this copy (ip netns exec bind-mounts /etc/netns/NS/* over /etc).
	mkdir -p "/etc/netns/$1"
	printf '# ztvpn test namespace %s\n' "$1" >"/etc/netns/$1/resolv.conf"
	ip -n "$1" link set lo up
}

# veth_link NS1 IF1 ADDR1 NS2 IF2 ADDR2: a veth pair IF1 in NS1 -- IF2 in
# NS2, each end up with its ADDR/24.
veth_link() {
	local ns1=$1 if1=$2 addr1=$3 ns2=$4 if2=$5 addr2=$6
	ip -n "$ns1" link add "$if1" type veth peer name "$if2" netns "$ns2"
	ip -n "$ns1" addr add "$addr1/24" dev "$if1"
	ip -n "$ns1" link set "$if1" up
	ip -n "$ns2" addr add "$addr2/24" dev "$if2"
	ip -n "$ns2" link set "$if2" up
}

# bridge_port PORT NS IF ADDR: plug NS into the gateway's bridge br0 (the
# laptops' network): a veth pair PORT (a port of br0) -- IF in NS, up with
# ADDR/24.
bridge_port() {
	local port=$1 ns=$2 ifname=$3 addr=$4
	ip -n "$NS_GW" link add "$port" type veth peer name "$ifname" netns "$ns"
	ip -n "$NS_GW" link set "$port" master br0 up
	ip -n "$ns" addr add "$addr/24" dev "$ifname"
	ip -n "$ns" link set "$ifname" up
}

# bridge_pin_mac: before a port joins a running br0. A bridge takes the
# lowest MAC address of its ports unless one is set: pin the current one,
# or the other laptops' ARP entries for the gateway go stale when the new
# port joins.
bridge_pin_mac() {
	local mac
	mac=$(ip -n "$NS_GW" -br link show br0 | awk '{print $3}')
	ip -n "$NS_GW" link set br0 address "$mac"
}

# topo_up [laptops]: build the topology (laptops = 1 or 2, default 2).
topo_up() {
	local laptops=${1:-2}
	new_ns "$NS_GW"
	new_ns "$NS_CORP"
	new_ns "$NS_L1"
	if ((laptops < 2)); then
		NS_L2=''
	else
		new_ns "$NS_L2"
	fi

	ip -n "$NS_GW" link add br0 type bridge
	ip -n "$NS_GW" addr add "$GW_LAN/24" dev br0
	ip -n "$NS_GW" link set br0 up

	bridge_port l1 "$NS_L1" eth0 "$L1_ADDR"
	if ((laptops >= 2)); then
		bridge_port l2 "$NS_L2" eth0 "$L2_ADDR"
	fi

	veth_link "$NS_GW" eth1 "$GW_CORP" "$NS_CORP" eth0 "$CORP_ADDR"
	ip -n "$NS_CORP" route add 100.64.0.0/10 via "$GW_CORP"

	nsx "$NS_GW" sysctl -qw net.ipv4.ip_forward=1
	wait_for 5 nsx "$NS_L1" ping -c1 -W1 -q "$GW_LAN" >/dev/null 2>&1 ||
		bail "topology: laptop1 cannot reach the gateway"
	wait_for 5 nsx "$NS_CORP" ping -c1 -W1 -q "$GW_CORP" >/dev/null 2>&1 ||
		bail "topology: corp cannot reach the gateway"
	log "topology up: $NS_L1${NS_L2:+ $NS_L2} -- $NS_GW -- $NS_CORP"
}

# topo_v6: add IPv6 to the corp link of a topology made by topo_up:
# gateway eth1 $GW_CORP6/64, corp eth0 $CORP_ADDR6/64 (both nodad, so usable
# at once), corp routes $POOL6 via the gateway, and the gateway forwards
# IPv6. Only the namespaces of the test are touched.
topo_v6() {
	ip -n "$NS_GW" -6 addr add "$GW_CORP6/64" dev eth1 nodad
	ip -n "$NS_CORP" -6 addr add "$CORP_ADDR6/64" dev eth0 nodad
	ip -n "$NS_CORP" -6 route add "$POOL6" via "$GW_CORP6"
	nsx "$NS_GW" sysctl -qw net.ipv6.conf.all.forwarding=1
	wait_for 5 nsx "$NS_CORP" ping -6 -c1 -W1 -q "$GW_CORP6" >/dev/null 2>&1 ||
		bail "topology: corp cannot reach the gateway over IPv6"
	log "IPv6 on the corp link: $GW_CORP6 -- $CORP_ADDR6"
}

# zt_pki: make the test PKI in $ZT_TMP/pki with $MKPKI (mkpki.sh, or
# mkpki-tool.sh when ZT_PKI_MAKER=tool).
zt_pki() {
	case ${ZT_PKI_MAKER:-openssl} in
	openssl | tool) ;;
	*) bail "ZT_PKI_MAKER=$ZT_PKI_MAKER: expected openssl or tool" ;;
	esac
	ZT_PKI=$ZT_TMP/pki
	log "test PKI made by ${MKPKI##*/}"
	"$MKPKI" "$ZT_PKI" >"$ZT_TMP/mkpki.out" 2>&1 ||
		{ diag "$ZT_TMP/mkpki.out"; bail "${MKPKI##*/} failed"; }
}

# --- configuration files -----------------------------------------------------

# rel CONF TARGET: TARGET relative to CONF's directory (configs use
# relative paths on purpose: they are relative to the file, not the cwd).
rel() {
	realpath -m --relative-to="$(dirname "$1")" "$2"
}

# write_server_conf FILE [EXTRA [TUNNEL_EXTRA]]: the standard gateway
# configuration using $ZT_PKI; EXTRA is appended verbatim (e.g.
# 'policy = "policy.conf";'), TUNNEL_EXTRA (one setting, e.g.
# 'full_tunnel = true;') as the last line of the tunnel group.
write_server_conf() {
	local f=$1 extra=${2:-} textra=${3:-} crt key dca uca
	mkdir -p "$(dirname "$f")"
	crt=$(rel "$f" "$ZT_PKI/server.crt")
	key=$(rel "$f" "$ZT_PKI/server.key")
	dca=$(rel "$f" "$ZT_PKI/device-ca.crt")
	uca=$(rel "$f" "$ZT_PKI/user-ca.crt")
	cat >"$f" <<EOF
# ztvpn test gateway ($ZT_NAME)
listen = "$SERVER_ENDPOINT";
tls = {
  certificate = "$crt";
  private_key = "$key";
  device_ca = "$dca";
  user_ca = "$uca";
};
tunnel = {
  interface = "ztvpn0";
  mtu = 1400;
  pool4 = "100.64.0.0/24";
  routes = [ "198.51.100.0/24" ];
  dns = { servers = [ "198.51.100.53" ]; domains = [ "corp.example" ]; };
  keepalive = 10;
${textra:+  $textra
}};
$extra
EOF
}

# write_client_conf FILE DEVICE USER [SERVER_NAME [EXTRA]]: DEVICE and USER
# are certificate paths without the .crt/.key suffix, e.g.
# "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice".
write_client_conf() {
	local f=$1 dev=$2 user=$3 sname=${4:-gw.corp.example} extra=${5:-}
	local ca dcrt dkey ucrt ukey
	mkdir -p "$(dirname "$f")"
	ca=$(rel "$f" "$ZT_PKI/server-ca.crt")
	dcrt=$(rel "$f" "$dev.crt")
	dkey=$(rel "$f" "$dev.key")
	ucrt=$(rel "$f" "$user.crt")
	ukey=$(rel "$f" "$user.key")
	cat >"$f" <<EOF
# ztvpn test client ($ZT_NAME)
server = "$SERVER_ENDPOINT";
server_name = "$sname";
server_ca = "$ca";
device = { certificate = "$dcrt"; private_key = "$dkey"; };
user = { certificate = "$ucrt"; private_key = "$ukey"; };
tunnel = { interface = "ztvpn0"; };
$extra
EOF
}

# --- programs ----------------------------------------------------------------

# count PATTERN FILE: number of lines matching the extended regex.
count() {
	local n
	n=$(grep -cE -- "$1" "$2" 2>/dev/null) || true
	printf '%s' "${n:-0}"
}

has_line() { grep -qE -- "$1" "$2" 2>/dev/null; }

# at_least N PATTERN FILE
at_least() { (($(count "$2" "$3") >= $1)); }

# The programs log at debug level in the tests (ZT_DEBUG=0 turns it off).
ZT_DEBUG_FLAG=(-d)
[[ ${ZT_DEBUG:-1} == 1 ]] || ZT_DEBUG_FLAG=()

# start_server [NAME [CONF]]: start ztvpn-server in the gateway namespace
# and wait until it logs "listening on". NAME defaults to "server".
start_server() {
	local name=${1:-server} conf=${2:-$ZT_TMP/gw/server.conf}
	start_bg "$name" "$NS_GW" "$SERVER_BIN" "${ZT_DEBUG_FLAG[@]}" -c "$conf"
	if ! wait_for 10 has_line "ztvpn-server: info: listening on $SERVER_ENDPOINT" "$(bg_log "$name")"; then
		log "server $name did not log 'listening on $SERVER_ENDPOINT' within 10 s"
		return 1
	fi
}

# start_client NAME NS CONF: start ztvpn-client and wait (15 s) for
# "tunnel up".
start_client() {
	local name=$1 ns=$2 conf=$3
	start_bg "$name" "$ns" "$CLIENT_BIN" "${ZT_DEBUG_FLAG[@]}" -c "$conf"
	if ! wait_for 15 has_line "ztvpn-client: info: tunnel up: " "$(bg_log "$name")"; then
		log "client $name: no 'tunnel up' within 15 s"
		return 1
	fi
}

# client_addr NAME: the address of the client's last "tunnel up" line.
client_addr() {
	sed -n 's/.*ztvpn-client: info: tunnel up: [^ ]* address \([0-9.]*\).*/\1/p' \
		"$(bg_log "$1")" | tail -n1
}

# client_addr6 NAME: the IPv6 address of the client's last "tunnel up"
# line (empty if it got none).
client_addr6() {
	sed -n 's/.*ztvpn-client: info: tunnel up: [^ ]* address [0-9.]* \([0-9a-f:]*\).*/\1/p' \
		"$(bg_log "$1")" | tail -n1
}

# run_fg NAME TIMEOUT NS CMD...: run CMD in NS ("-": no namespace) in the
# foreground, bounded by TIMEOUT seconds, working directory $ZT_TMP; output
# to $ZT_TMP/NAME.log; FG_STATUS = exit status (124 = timed out).
FG_STATUS=
# shellcheck disable=SC2034 # FG_STATUS is read by the tests
run_fg() {
	local name=$1 timeout=$2 ns=$3
	shift 3
	local -a pre=()
	[[ $ns == - ]] || pre=(ip netns exec "$ns")
	FG_STATUS=0
	(cd "$ZT_TMP" && exec timeout -k 3 "$timeout" "${pre[@]}" "$@") \
		</dev/null >"$ZT_TMP/$name.log" 2>&1 || FG_STATUS=$?
}

# ping_ok NS DST [COUNT]: COUNT (default 3) pings, at least one answered.
ping_ok() {
	nsx "$1" ping -n -q -c "${3:-3}" -i 0.2 -W 2 "$2" >/dev/null 2>&1
}

# no_ping NS DST: not a single answer to one ping (1 s).
no_ping() {
	! nsx "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1
}

# ip_family ADDR: "-6" if ADDR (or a prefix) is IPv6 (has a colon), else "-4".
ip_family() {
	if [[ $1 == *:* ]]; then printf '%s' -6; else printf '%s' -4; fi
}

# has_addr NS DEV ADDR/LEN: DEV in NS has exactly that address (IPv4, or
# IPv6 when ADDR has a colon).
has_addr() {
	local out
	out=$(nsx "$1" ip -br "$(ip_family "$3")" addr show dev "$2" 2>/dev/null) || return 1
	grep -qw -- "$3" <<<"$out"
}

# route_dev NS PREFIX DEV: the route to PREFIX (IPv4, or IPv6 when it has a
# colon) in NS goes out of DEV.
route_dev() {
	local out
	out=$(nsx "$1" ip "$(ip_family "$2")" route show "$2" 2>/dev/null) || return 1
	grep -qw -- "dev $3" <<<"$out"
}

# port_listening NS PORT: a TCP listener on PORT in NS.
port_listening() {
	[[ -n $(nsx "$1" ss -Hltn "sport = :$2" 2>/dev/null) ]]
}

# xfer_start NAME LAPTOP_NS PORT MBYTES [up|down [CORP]]: start moving
# MBYTES of random data over one TCP connection between LAPTOP_NS and corp
# (CORP:PORT, CORP defaults to $CORP_ADDR and may be an IPv6 address;
# always connected from the laptop): "up" (default) sends laptop -> corp,
# "down" corp -> laptop. Both ends run in the background (NAME-corp,
# NAME-laptop); xfer_finish checks the result.
xfer_start() {
	local name=$1 laptop=$2 port=$3 mb=$4 dir=${5:-up} corp=${6:-$CORP_ADDR}
	local src=$ZT_TMP/$name.src out=$ZT_TMP/$name.dst
	local -a listen=("TCP-LISTEN:$port,bind=$corp,reuseaddr")
	local -a connect=("TCP:$corp:$port,connect-timeout=5")
	if [[ $corp == *:* ]]; then
		listen=("TCP6-LISTEN:$port,bind=[$corp],reuseaddr")
		connect=("TCP6:[$corp]:$port,connect-timeout=5")
	fi
	head -c "${mb}M" /dev/urandom >"$src"
	rm -f "$out"
	if [[ $dir == up ]]; then
		start_bg "$name-corp" "$NS_CORP" socat -u "${listen[@]}" "CREATE:$out"
	else
		start_bg "$name-corp" "$NS_CORP" socat -u "OPEN:$src" "${listen[@]}"
	fi
	if ! wait_for 5 port_listening "$NS_CORP" "$port"; then
		log "$name: corp not listening on $port"
		return 1
	fi
	if [[ $dir == up ]]; then
		start_bg "$name-laptop" "$laptop" socat -u "OPEN:$src" "${connect[@]}"
	else
		start_bg "$name-laptop" "$laptop" socat -u "${connect[@]}" "CREATE:$out"
	fi
}

# xfer_finish NAME [TIMEOUT]: wait (default 120 s) for both ends of a
# transfer started with xfer_start; succeed if both exited 0 and the data
# arrived intact (sha256).
xfer_finish() {
	local name=$1 timeout=${2:-120} side a b
	local src=$ZT_TMP/$name.src out=$ZT_TMP/$name.dst
	for side in laptop corp; do
		[[ -n ${ZT_PID[$name-$side]:-} ]] || return 1
		if ! bg_wait "$name-$side" "$timeout"; then
			log "$name: $side socat still running after $timeout s"
			bg_stop "$name-$side"
			return 1
		fi
		if [[ $BG_STATUS != 0 ]]; then
			log "$name: $side socat exit status $BG_STATUS"
			diag "$(bg_log "$name-$side")"
			return 1
		fi
		timeout=10
	done
	a=$(sha256sum <"$src") b=$(sha256sum <"$out")
	rm -f "$src" "$out"
	if [[ $a != "$b" ]]; then
		log "$name: sha256 mismatch"
		return 1
	fi
}

# tcp_transfer NAME LAPTOP_NS PORT MBYTES [up|down [CORP]]: xfer_start +
# xfer_finish.
tcp_transfer() {
	xfer_start "$@" && xfer_finish "$1"
}

# audit_admit_re USER DEVICE ADDR ENDPOINT_IP: regex of an admission line
# (user and device values may be quoted).
audit_admit_re() {
	printf 'ztvpn-server: info: audit event=admit session=[^ ]+ user="?%s"? device="?%s"? addr4=%s( [^ ]+)* endpoint=%s:[0-9]+' \
		"$1" "$2" "${3//./\\.}" "${4//./\\.}"
}

# audit_reject_re CODE: regex of a rejection line with that reason code.
audit_reject_re() {
	printf 'ztvpn-server: info: audit event=reject .*reason=%s( |$)' "$1"
}

# --- policy, revocation and reload (issue 3) ---------------------------------
# Helpers for test_policy.sh, test_revocation.sh, test_reload.sh and demo.sh.

# A third laptop (topo_laptop3): laptop3 eth0 192.0.2.4/24 on the same bridge.
L3_ADDR=192.0.2.4
NS_L3=''
# The control program (test_ctl.sh uses it too).
CTL_BIN=$ZT_BUILD/common/ctl/ztvpn-ctl
WAITED_MS=
RELOAD_LINE=
# shellcheck disable=SC2034 # RELOAD_T0 and CTL_STATUS are read by the tests
RELOAD_T0=
# shellcheck disable=SC2034
CTL_STATUS=

# topo_laptop3: add a third laptop namespace ($NS_L3, $L3_ADDR) to a
# topology made by topo_up.
topo_laptop3() {
	NS_L3=${NS_GW%-gw}-laptop3
	new_ns "$NS_L3"
	bridge_pin_mac
	bridge_port l3 "$NS_L3" eth0 "$L3_ADDR"
	wait_for 5 nsx "$NS_L3" ping -c1 -W1 -q "$GW_LAN" >/dev/null 2>&1 ||
		bail "topology: laptop3 cannot reach the gateway"
}

# start_alice_and_bob: alice on laptop-042 in laptop1 and bob on
# laptop-077 in laptop2, each with a client.conf of write_client_conf,
# both started as clients "alice" and "bob" and required to be admitted
# (must).
start_alice_and_bob() {
	write_client_conf "$ZT_TMP/laptop1/client.conf" "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
	write_client_conf "$ZT_TMP/laptop2/client.conf" "$ZT_PKI/devices/laptop-077" "$ZT_PKI/users/bob"
	must "alice on laptop-042 (laptop1) is admitted" start_client alice "$NS_L1" "$ZT_TMP/laptop1/client.conf"
	must "bob on laptop-077 (laptop2) is admitted" start_client bob "$NS_L2" "$ZT_TMP/laptop2/client.conf"
}

# wait_for_ms TIMEOUT_MS CMD...: wait_for with a bound in milliseconds and
# a 0.05 s poll. WAITED_MS = milliseconds from the call until CMD first
# succeeded (or until giving up). Returns 0 or 1 like wait_for.
wait_for_ms() {
	local timeout_ms=$1
	shift
	local t0 tries=$((timeout_ms / 50 + 2))
	t0=$(now_us)
	while ((tries-- > 0)); do
		if "$@"; then
			WAITED_MS=$((($(now_us) - t0) / 1000))
			return 0
		fi
		WAITED_MS=$((($(now_us) - t0) / 1000))
		((WAITED_MS < timeout_ms)) || return 1
		sleep 0.05
	done
	return 1
}

# write_server_conf_crl FILE [EXTRA]: write_server_conf plus
# tls.crl = [ device-ca.crl, user-ca.crl ] of $ZT_PKI.
write_server_conf_crl() {
	local f=$1 dcrl ucrl
	write_server_conf "$@"
	dcrl=$(rel "$f" "$ZT_PKI/device-ca.crl")
	ucrl=$(rel "$f" "$ZT_PKI/user-ca.crl")
	sed -i "s|^  user_ca = .*|&\\n  crl = [ \"$dcrl\", \"$ucrl\" ];|" "$f"
	grep -q '^  crl = ' "$f"
}

# conf_routes FILE [PREFIX...]: replace tunnel.routes of a server.conf
# made by write_server_conf with PREFIXes; none removes the setting (with
# a policy, each client then gets only the routes its rules allow).
conf_routes() {
	local f=$1 list='' p
	shift
	for p in "$@"; do
		list+="${list:+, }\"$p\""
	done
	if (($# == 0)); then
		sed -i '/^  routes = /d' "$f"
		! grep -q '^  routes = ' "$f"
	else
		sed -i "s|^  routes = .*|  routes = [ $list ];|" "$f"
		grep -qF "  routes = [ $list ];" "$f"
	fi
}

# conf_pool6 FILE: add pool6 = $POOL6 to a server.conf made by
# write_server_conf.
conf_pool6() {
	sed -i "s|^  pool4 = .*|&\\n  pool6 = \"$POOL6\";|" "$1"
	grep -q "^  pool6 = \"$POOL6\";" "$1"
}

# audit_end_re USER DEVICE REASON: regex of a session end record.
audit_end_re() {
	printf 'ztvpn-server: info: audit event=end session=[^ ]+ user="?%s"? device="?%s"? reason=%s ' \
		"$1" "$2" "$3"
}

# drop_log_re USER DEVICE REASON: regex of a rate-limited drop line.
drop_log_re() {
	printf 'ztvpn-server: warning: session [0-9]+ \\(%s@%s\\): dropped packet: %s \\([0-9]+ so far\\)' \
		"$1" "$2" "$3"
}

# server_reload [NAME]: SIGHUP to server NAME (default server); wait (5 s)
# for its next "audit event=reload" record. RELOAD_T0 = now_us when the
# signal was sent, RELOAD_LINE = the record. Returns 1 without a record.
# shellcheck disable=SC2034
server_reload() {
	local name=${1:-server} log n
	log=$(bg_log "$name")
	n=$(count 'audit event=reload ' "$log")
	RELOAD_LINE=
	RELOAD_T0=$(now_us)
	kill -HUP "$(bg_pid "$name")" || return 1
	wait_for 5 at_least $((n + 1)) 'audit event=reload ' "$log" || return 1
	RELOAD_LINE=$(grep -E 'audit event=reload ' "$log" | sed -n "$((n + 1))p")
}

# ctl_reload SOCKET [NAME]: `ztvpn-ctl -s SOCKET reload` in the gateway
# namespace, then wait like server_reload (CTL_STATUS = its exit status,
# its output in $ZT_TMP/ctl-reload.log).
# shellcheck disable=SC2034
ctl_reload() {
	local sock=$1 name=${2:-server} log n
	log=$(bg_log "$name")
	n=$(count 'audit event=reload ' "$log")
	RELOAD_LINE=
	RELOAD_T0=$(now_us)
	run_fg ctl-reload 10 "$NS_GW" "$CTL_BIN" -s "$sock" reload
	CTL_STATUS=$FG_STATUS
	wait_for 5 at_least $((n + 1)) 'audit event=reload ' "$log" || return 1
	RELOAD_LINE=$(grep -E 'audit event=reload ' "$log" | sed -n "$((n + 1))p")
}

# reload_says REGEX: the last reload record (RELOAD_LINE) matches REGEX.
reload_says() {
	grep -qE -- "$1" <<<"$RELOAD_LINE"
}

# --- TCP probes ---------------------------------------------------------------
# One small Python program ($ZT_TMP/zt_tcp.py) plays every TCP role:
#   serve ADDR PORT...     listen on each ADDR:PORT; to every connection send
#                          "ztvpn-test ADDR PORT\n" and close (600 s at most)
#   probe ADDR PORT SECS [SRC]  connect (from SRC if given), print open (the
#                          banner arrived), timeout, refused, unreachable or
#                          error: ...; exit 0 only for open
#   sink ADDR PORT FILE    accept one connection, append what arrives to FILE
#   ticker ADDR PORT       connect, send "tick N\n" every 0.2 s (120 s at most)
#   userve ADDR PORT...    UDP: answer every datagram with "ztvpn-test ADDR PORT\n"
#   uprobe ADDR PORT SECS  UDP: send one datagram, print open (the answer
#                          came back) or timeout; exit 0 only for open
zt_tcp_tool() {
	local f=$ZT_TMP/zt_tcp.py
	[[ -f $f ]] || cat >"$f" <<'PYEOF'
import errno, selectors, socket, sys, time

def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET

def serve(addr, ports):
    sel = selectors.DefaultSelector()
    for p in ports:
        s = socket.socket(fam(addr), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, int(p)))
        s.listen(64)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, int(p))
    print("listening on %s ports %s" % (addr, " ".join(ports)), flush=True)
    end = time.monotonic() + 600
    while time.monotonic() < end:
        for key, _ in sel.select(1):
            try:
                c, peer = key.fileobj.accept()
            except OSError:
                continue
            print("connection to %s:%d from %s" % (addr, key.data, peer[0]), flush=True)
            try:
                c.settimeout(2)
                c.sendall(("ztvpn-test %s %d\n" % (addr, key.data)).encode())
            except OSError:
                pass
            c.close()

def probe(addr, port, secs, src=None):
    s = socket.socket(fam(addr), socket.SOCK_STREAM)
    s.settimeout(float(secs))
    want = ("ztvpn-test %s %s\n" % (addr, port)).encode()
    try:
        if src:
            s.bind((src, 0))
        s.connect((addr, int(port)))
        got = b""
        while len(got) < 200:
            d = s.recv(200)
            if not d:
                break
            got += d
    except socket.timeout:
        print("timeout")
        return 1
    except ConnectionRefusedError:
        print("refused")
        return 1
    except OSError as e:
        if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            print("unreachable")
        else:
            print("error: %s" % e)
        return 1
    if got == want:
        print("open")
        return 0
    print("error: unexpected banner %r" % got)
    return 1

def sink(addr, port, path):
    s = socket.socket(fam(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(1)
    s.settimeout(120)
    c, _ = s.accept()
    c.settimeout(1)
    end = time.monotonic() + 120
    with open(path, "ab", buffering=0) as out:
        while time.monotonic() < end:
            try:
                d = c.recv(4096)
            except socket.timeout:
                continue
            if not d:
                break
            out.write(d)

def ticker(addr, port):
    s = socket.create_connection((addr, int(port)), timeout=5)
    s.settimeout(None)
    for n in range(600):
        s.sendall(("tick %d\n" % n).encode())
        time.sleep(0.2)

def userve(addr, ports):
    sel = selectors.DefaultSelector()
    for p in ports:
        s = socket.socket(fam(addr), socket.SOCK_DGRAM)
        s.bind((addr, int(p)))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, int(p))
    print("listening on %s udp ports %s" % (addr, " ".join(ports)), flush=True)
    end = time.monotonic() + 600
    while time.monotonic() < end:
        for key, _ in sel.select(1):
            try:
                _, peer = key.fileobj.recvfrom(2048)
                print("datagram to %s:%d from %s" % (addr, key.data, peer[0]), flush=True)
                key.fileobj.sendto(("ztvpn-test %s %d\n" % (addr, key.data)).encode(), peer)
            except OSError:
                pass

def uprobe(addr, port, secs):
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    s.settimeout(float(secs))
    try:
        s.connect((addr, int(port)))
        s.send(b"ztvpn-test probe\n")
        got = s.recv(200)
    except socket.timeout:
        print("timeout")
        return 1
    except OSError as e:
        print("error: %s" % e)
        return 1
    if got == ("ztvpn-test %s %s\n" % (addr, port)).encode():
        print("open")
        return 0
    print("error: unexpected answer %r" % got)
    return 1

cmd = sys.argv[1]
if cmd == "serve":
    serve(sys.argv[2], sys.argv[3:])
elif cmd == "probe":
    sys.exit(probe(*sys.argv[2:]))
elif cmd == "sink":
    sink(*sys.argv[2:5])
elif cmd == "ticker":
    ticker(*sys.argv[2:4])
elif cmd == "userve":
    userve(sys.argv[2], sys.argv[3:])
elif cmd == "uprobe":
    sys.exit(uprobe(*sys.argv[2:5]))
else:
    sys.exit(2)
PYEOF
	printf '%s' "$f"
}

# serve_ports CMD READY NAME NS ADDR PORT...: start zt_tcp.py CMD (serve,
# userve) in NS as NAME and wait until READY NS PORT holds for every PORT.
serve_ports() {
	local cmd=$1 ready=$2 name=$3 ns=$4 addr=$5 tool p
	shift 5
	tool=$(zt_tcp_tool)
	start_bg "$name" "$ns" python3 "$tool" "$cmd" "$addr" "$@"
	for p in "$@"; do
		wait_for 5 "$ready" "$ns" "$p" || return 1
	done
}

# tcp_serve NAME NS ADDR PORT...: start a banner server (zt_tcp.py serve)
# in NS and wait until every PORT listens.
tcp_serve() { serve_ports serve port_listening "$@"; }

# tcp_probe NS ADDR PORT [SRC]: print the outcome of one connection
# attempt from NS to a tcp_serve port, with a 2 s timeout.
tcp_probe() {
	local tool
	tool=$(zt_tcp_tool)
	nsx "$1" timeout -k 1 6 python3 "$tool" probe "$2" "$3" 2 ${4:+"$4"} 2>&1 || true
}

# tcp_outcome WANT NS ADDR PORT [SRC]: tcp_probe prints WANT; if not, says
# what it printed instead.
tcp_outcome() {
	local want=$1 r
	shift
	r=$(tcp_probe "$@")
	[[ $r == "$want" ]] && return 0
	log "tcp ${4:+from $4 }to $2 port $3: '$r' (wanted $want)"
	return 1
}

# reaches NS ADDR PORT [SRC]: the connection gets the banner through.
reaches() { tcp_outcome open "$@"; }

# blocked NS ADDR PORT [SRC]: the connection times out (2 s): its packets
# are dropped silently, neither refused nor unroutable.
blocked() { tcp_outcome timeout "$@"; }

# udp_serve NAME NS ADDR PORT...: start a UDP answering server (zt_tcp.py
# userve) in NS and wait until every PORT is bound.
udp_serve() { serve_ports userve udp_bound "$@"; }

udp_bound() {
	[[ -n $(nsx "$1" ss -Hlun "sport = :$2" 2>/dev/null) ]]
}

# udp_outcome WANT NS ADDR PORT: one datagram from NS to a udp_serve port,
# with a 2 s timeout, has the outcome WANT (zt_tcp.py uprobe: open when
# the answer came back, timeout when none did); if not, says which it had.
udp_outcome() {
	local want=$1 tool r
	shift
	tool=$(zt_tcp_tool)
	r=$(nsx "$1" timeout -k 1 6 python3 "$tool" uprobe "$2" "$3" 2 2>&1) || true
	[[ $r == "$want" ]] && return 0
	log "udp to $2 port $3: '$r' (wanted $want)"
	return 1
}

# udp_answered NS ADDR PORT: one datagram from NS to a udp_serve port gets
# its answer back within 2 s (the request out and the reply in).
udp_answered() { udp_outcome open "$@"; }

# udp_unanswered NS ADDR PORT: no answer within 2 s.
udp_unanswered() { udp_outcome timeout "$@"; }

# tcp_flow_start NAME LAPTOP_NS ADDR PORT: a long-lived TCP connection from
# LAPTOP_NS to ADDR:PORT in corp carrying "tick N" lines every 0.2 s;
# corp appends them to $ZT_TMP/NAME.ticks (tcp_ticks counts them).
tcp_flow_start() {
	local name=$1 laptop=$2 addr=$3 port=$4 tool
	tool=$(zt_tcp_tool)
	: >"$ZT_TMP/$name.ticks"
	start_bg "$name-corp" "$NS_CORP" python3 "$tool" sink "$addr" "$port" "$ZT_TMP/$name.ticks"
	wait_for 5 port_listening "$NS_CORP" "$port" || return 1
	start_bg "$name-laptop" "$laptop" python3 "$tool" ticker "$addr" "$port"
}

# tcp_ticks NAME: number of complete lines corp received on flow NAME.
tcp_ticks() {
	local n
	n=$(grep -c '^tick [0-9]*$' "$ZT_TMP/$1.ticks" 2>/dev/null) || true
	printf '%s' "${n:-0}"
}

# ticks_grow NAME N: flow NAME delivered more than N lines.
ticks_grow() { (($(tcp_ticks "$1") > $2)); }

# client_routes NAME: the prefixes of the client's last admission ("route
# P via DEV" lines after its last "admitted:"), sorted, space-separated.
client_routes() {
	awk '/ztvpn-client: info: admitted: /{n=0; delete r}
	     /ztvpn-client: info: route [^ ]+ via /{r[n++]=$4}
	     END{for (i = 0; i < n; i++) print r[i]}' "$(bg_log "$1")" |
		sort | tr '\n' ' ' | sed 's/ $//'
}

# --- the UDP data channel (issue 4) -------------------------------------------
# Helpers for test_udp*.sh. The data channel shares the port of the TLS
# listener: udp_listen = $UDP_ENDPOINT.
# shellcheck disable=SC2034 # UDPTOOL_BIN is read by the tests
UDPTOOL_BIN=$ZT_BUILD/tests/tools/ztvpn-udptool
UDP_ENDPOINT=$GW_LAN:8443

# server_conf_udp FILE SOCK [EXTRA]: write_server_conf_crl FILE with
# udp_listen = $UDP_ENDPOINT, control_socket = SOCK and EXTRA.
server_conf_udp() {
	write_server_conf_crl "$1" "udp_listen = \"$UDP_ENDPOINT\";
control_socket = \"$2\";
${3:-}"
}

# udp_alice_confs [EXTRA]: the UDP tests' gateway, $ZT_TMP/gw/server.conf
# (server_conf_udp with control socket $SOCK and EXTRA), and alice's
# client.conf on laptop1 with control socket $CSOCK; sets SOCK and CSOCK.
udp_alice_confs() {
	SOCK=$ZT_TMP/gw-run/server.sock
	CSOCK=$ZT_TMP/laptop1-run/client.sock
	server_conf_udp "$ZT_TMP/gw/server.conf" "$SOCK" "${1:-}" &&
		write_client_conf "$ZT_TMP/laptop1/client.conf" "$ZT_PKI/devices/laptop-042" \
			"$ZT_PKI/users/alice" gw.corp.example "control_socket = \"$CSOCK\";"
}

# json_get FIELD [USER]: read ztvpn-ctl --json output on stdin and print
# FIELD: of USER's session (a sessions listing; USER empty = its only
# session), or of the document itself (a status). Strings as they are,
# numbers in decimal, true/false, null as nothing. Fails if absent.
json_get() {
	python3 -c 'import json, sys
d = json.load(sys.stdin)
field, user = sys.argv[1], sys.argv[2]
if "sessions" in d:
    ss = [s for s in d["sessions"] if not user or s.get("user") == user]
    if len(ss) != 1:
        sys.exit(1)
    d = ss[0]
if field not in d:
    sys.exit(1)
v = d[field]
print("" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$1" "${2:-}" 2>/dev/null
}

# session_json_field SOCK FIELD [USER]: FIELD of a session in
# `ztvpn-ctl -s SOCK --json sessions` (see json_get).
session_json_field() {
	local out
	out=$(timeout -k 2 10 "$CTL_BIN" -s "$1" --json sessions 2>/dev/null) || return 1
	json_get "$2" "${3:-}" <<<"$out"
}

# client_json_field SOCK FIELD: FIELD of `ztvpn-ctl -s SOCK --json status`
# (a client's control socket).
client_json_field() {
	local out
	out=$(timeout -k 2 10 "$CTL_BIN" -s "$1" --json status 2>/dev/null) || return 1
	json_get "$2" <<<"$out"
}

# session_field_is SOCK FIELD VALUE [USER] / client_field_is SOCK FIELD
# VALUE: the field has exactly that value (for wait_for).
session_field_is() { [[ $(session_json_field "$1" "$2" "${4:-}") == "$3" ]]; }
client_field_is() { [[ $(client_json_field "$1" "$2") == "$3" ]]; }

# session_field_ge SOCK FIELD N [USER] / client_field_ge SOCK FIELD N: the
# field is a number >= N.
session_field_ge() {
	local v
	v=$(session_json_field "$1" "$2" "${4:-}") || return 1
	[[ $v =~ ^[0-9]+$ ]] && ((v >= $3))
}
client_field_ge() {
	local v
	v=$(client_json_field "$1" "$2") || return 1
	[[ $v =~ ^[0-9]+$ ]] && ((v >= $3))
}

# prom_snap SOCK NAME: save `ztvpn-ctl -s SOCK metrics` as $ZT_TMP/NAME.prom.
prom_snap() {
	timeout -k 2 10 "$CTL_BIN" -s "$1" metrics >"$ZT_TMP/$2.prom" 2>"$ZT_TMP/$2.prom.err" ||
		log "ztvpn-ctl metrics for $2 failed: $(head -c 200 "$ZT_TMP/$2.prom.err")"
}

# prom_value NAME SERIES: the value of SERIES (labels exactly as written)
# in snapshot NAME, or "none".
prom_value() {
	local v
	v=$(awk -v s="$2" '$1 == s { print $2; exit }' "$ZT_TMP/$1.prom" 2>/dev/null)
	printf '%s' "${v:-none}"
}

# prom_sum NAME METRIC: the sum of every series of METRIC (any labels) in
# snapshot NAME, or "none" if it has none.
prom_sum() {
	awk -v m="$2" 'index($1, m "{") == 1 || $1 == m { s += $2; n++ }
	               END { if (n) printf "%d", s; else printf "none" }' "$ZT_TMP/$1.prom" 2>/dev/null
}

# prom_delta A B SERIES: how much SERIES grew from snapshot A to B (a SERIES
# without labels sums them all); fails, saying so, when either lacks it.
prom_delta() {
	local a b
	if [[ $3 == *'{'* ]]; then
		a=$(prom_value "$1" "$3") b=$(prom_value "$2" "$3")
	else
		a=$(prom_sum "$1" "$3") b=$(prom_sum "$2" "$3")
	fi
	if ! [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]]; then
		log "metric $3: '$a' in $1, '$b' in $2" >&2
		return 1
	fi
	printf '%s' "$((b - a))"
}

# session_count SOCK: the number of sessions `ztvpn-ctl -s SOCK --json
# sessions` lists.
session_count() {
	local out
	out=$(timeout -k 2 10 "$CTL_BIN" -s "$1" --json sessions 2>/dev/null) || return 1
	python3 -c 'import json, sys; print(len(json.load(sys.stdin)["sessions"]))' <<<"$out"
}

# prom_grew A B SERIES MIN: SERIES grew by at least MIN from A to B.
prom_grew() {
	local d
	d=$(prom_delta "$1" "$2" "$3") || return 1
	log "$3: +$d from $1 to $2 (want >= $4)"
	((d >= $4))
}

# if_stat NS DEV COUNTER: a counter of DEV in NS (rx_packets, tx_packets...).
if_stat() {
	nsx "$1" cat "/sys/class/net/$2/statistics/$3" 2>/dev/null || printf 'none'
}

# udp_rcvbuf_errors NS: datagrams the kernel of NS dropped because a UDP
# socket's buffer was full (/proc/net/snmp, per namespace).
udp_rcvbuf_errors() {
	# shellcheck disable=SC2016 # an awk program
	nsx "$1" awk '$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) c[$i] = i; h = 1; next }
	              $1 == "Udp:" { print $c["RcvbufErrors"]; exit }' /proc/net/snmp
}

# file_size FILE: its size in bytes (0 if missing).
file_size() { stat -c %s "$1" 2>/dev/null || printf 0; }

# file_grows FILE N: FILE is larger than N bytes (for wait_for).
file_grows() { (($(file_size "$1") > $2)); }

# moving NAME: the receiving end of transfer NAME (xfer_start) gets more
# data within 3 s.
moving() {
	local f=$ZT_TMP/$1.dst n
	n=$(file_size "$f")
	wait_for 3 file_grows "$f" "$n" && return 0
	log "$1: stuck at $n bytes"
	return 1
}

# xfer_start_paced NAME LAPTOP_NS PORT MBYTES up|down KBPS: like xfer_start,
# but the sender paces itself to KBPS kB/s (a transfer that lasts, without a
# queue that would drop other traffic), and finishes with xfer_finish.
xfer_start_paced() {
	local name=$1 laptop=$2 port=$3 mb=$4 dir=$5 kbps=$6
	local src=$ZT_TMP/$name.src out=$ZT_TMP/$name.dst pacer=$ZT_TMP/zt_pace.py
	[[ -f $pacer ]] || cat >"$pacer" <<'PYEOF'
# zt_pace.py connect|listen ADDR PORT FILE KBPS: send FILE over one TCP
# connection at no more than KBPS kB/s; exit 0 once the peer has closed.
import socket, sys, time
mode, addr, port, path, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]) * 1000
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
if mode == "listen":
    l = socket.socket(fam, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port))
    l.listen(1)
    l.settimeout(60)
    s, _ = l.accept()
else:
    s = socket.create_connection((addr, port), timeout=5)
s.settimeout(60)
t0, sent = time.monotonic(), 0
with open(path, "rb") as f:
    while True:
        d = f.read(16384)
        if not d:
            break
        s.sendall(d)
        sent += len(d)
        ahead = sent / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
        if time.monotonic() - t0 > 600:
            sys.exit(3)
s.shutdown(socket.SHUT_WR)
s.recv(1)
PYEOF
	head -c "${mb}M" /dev/urandom >"$src"
	rm -f "$out"
	if [[ $dir == up ]]; then
		start_bg "$name-corp" "$NS_CORP" socat -u "TCP-LISTEN:$port,bind=$CORP_ADDR,reuseaddr" "CREATE:$out"
	else
		start_bg "$name-corp" "$NS_CORP" python3 "$pacer" listen "$CORP_ADDR" "$port" "$src" "$kbps"
	fi
	if ! wait_for 5 port_listening "$NS_CORP" "$port"; then
		log "$name: corp not listening on $port"
		return 1
	fi
	if [[ $dir == up ]]; then
		start_bg "$name-laptop" "$laptop" python3 "$pacer" connect "$CORP_ADDR" "$port" "$src" "$kbps"
	else
		start_bg "$name-laptop" "$laptop" socat -u "TCP:$CORP_ADDR:$port,connect-timeout=5" "CREATE:$out"
	fi
}
