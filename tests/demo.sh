#!/bin/bash
# demo.sh: see ztvpn work end to end on one machine, in a few seconds.
#
#   sudo tests/demo.sh [--no-build]
#
# Installs the build dependencies (packaging/install-deps.sh), builds ztvpn
# into build/ (or $ZT_BUILD), makes a demo PKI with tests/pki/mkpki.sh,
# and builds three network namespaces standing in for a laptop, the VPN
# gateway and a corporate web server. Then it starts ztvpn-server on the
# gateway, with a policy (and shows its network process running without
# root, capabilities or most system calls), and ztvpn-client on the
# laptop, and shows the
# tunnel address, the routes, a ping and an HTTP fetch through the tunnel,
# a connection the policy refuses (and the gateway's count of it), the
# offline policy query, and the gateway's audit log. Everything it created
# is removed when it ends (also on Ctrl-C). --no-build skips the dependency
# and build steps. Needs root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)
build_opt=1
case ${1:-} in
--no-build) build_opt=0 ;;
"") ;;
*)
	echo "usage: $0 [--no-build]" >&2
	exit 2
	;;
esac
if [[ $(id -u) != 0 ]]; then
	echo "demo.sh: run me as root (sudo $0): I create network namespaces and TUN devices." >&2
	exit 1
fi

# shellcheck source=SCRIPTDIR/integration/lib.sh
. "$here/integration/lib.sh"

# The demo talks to a person: the test library's progress lines and TAP
# output are replaced by plain sentences.
log() { :; }
ok() { :; }
not_ok() { :; }
bail() {
	echo
	echo "The demo failed: $*"
	local f
	for f in "$ZT_TMP"/*.log; do
		[[ -s $f ]] || continue
		echo "--- ${f##*/} ---"
		tail -n 20 "$f"
	done
	exit 1
}

section() {
	printf '\n== %s ==\n' "$*"
}

say() {
	printf '%s\n' "$*" | fold -s -w 78 | sed 's/^/  /'
}

# show WHO NS CMD...: print "  WHO$ CMD" and the command's output indented.
show() {
	local who=$1 ns=$2 out status=0
	shift 2
	printf '\n  %s$ %s\n' "$who" "$*"
	out=$(nsx "$ns" "$@" 2>&1) || status=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	return "$status"
}

section "ztvpn demo"
say "ztvpn admits a laptop to the corporate network only when BOTH its device certificate and its user's certificate verify. This demo shows it on this machine, with network namespaces standing in for the laptop, the VPN gateway and a corporate server."

if ((build_opt)); then
	section "1. Dependencies"
	mkdir -p "$ZT_BUILD"
	if ! "$repo/packaging/install-deps.sh" >"$ZT_BUILD/demo-deps.log" 2>&1; then
		tail -n 20 "$ZT_BUILD/demo-deps.log"
		echo "demo.sh: installing dependencies failed (log: $ZT_BUILD/demo-deps.log)" >&2
		exit 1
	fi
	say "The build and test packages are installed (packaging/install-deps.sh)."

	section "2. Build"
	say "Building ztvpn (RelWithDebInfo, as the test command does) in $ZT_BUILD ..."
	if ! { cmake -S "$repo" -B "$ZT_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
		cmake --build "$ZT_BUILD" -j"$(nproc)"; } >"$ZT_BUILD/demo-build.log" 2>&1; then
		tail -n 30 "$ZT_BUILD/demo-build.log"
		echo "demo.sh: the build failed (log: $ZT_BUILD/demo-build.log)" >&2
		exit 1
	fi
	say "Built ${SERVER_BIN#"$repo"/} and ${CLIENT_BIN#"$repo"/}."
else
	section "1-2. Dependencies and build: skipped (--no-build)"
fi

zt_init demo
require_bins server client

section "3. Certificates"
zt_pki
say "tests/pki/mkpki.sh made three separate certificate authorities with the openssl CLI, and issued:"
say "  server CA -> gw.corp.example   the gateway (clients check this name)"
say "  device CA -> laptop-042        the laptop (device group: managed)"
say "  user CA   -> alice             the person (user group: engineering)"
say "A device certificate is never accepted as a user certificate, nor the other way round."

section "4. Network"
topo_up 1
say "Three namespaces, three \"machines\":"
say "  laptop 192.0.2.2 ---- 192.0.2.1 gateway 198.51.100.1 ---- 198.51.100.10 corp"
say "The laptop has no route to the corporate network yet:"
show laptop "$NS_L1" ping -c 1 -W 1 "$CORP_ADDR" || true

mkdir -p "$ZT_TMP/www"
echo "hello from corp" >"$ZT_TMP/www/index.html"
start_bg http "$NS_CORP" python3 -m http.server 80 --bind "$CORP_ADDR" \
	--directory "$ZT_TMP/www"
wait_for 10 port_listening "$NS_CORP" 80 || bail "the corp web server did not start"
tcp_serve ssh "$NS_CORP" "$CORP_ADDR" 22 || bail "the corp port 22 listener did not start"
say "corp runs a small web server on port 80, and something listening on port 22 (standing in for ssh)."

section "5. The gateway and its policy"
write_server_conf "$ZT_TMP/gw/server.conf" 'policy = "policy.conf";
udp_listen = "192.0.2.1:8443";'
# No global route list: each client is sent the routes its rules allow.
conf_routes "$ZT_TMP/gw/server.conf" || bail "cannot edit server.conf"
cat >"$ZT_TMP/gw/policy.conf" <<'EOF'
# Who may reach what through the gateway. Default: nothing.
devices = ( { id = "laptop-042"; owners = [ "alice" ]; } );
rules = (
  { name = "web";
    users = [ "group:engineering" ]; devices = [ "group:managed" ];
    allow = [ "198.51.100.10 tcp/80 icmp" ]; }
);
# Expectations, checked at every start and reload.
tests = (
  { user = "alice"; user_groups = [ "engineering" ];
    device = "laptop-042"; device_groups = [ "managed" ];
    to = "198.51.100.10 tcp/80"; expect = "allow"; rule = "web"; },
  { user = "alice"; user_groups = [ "engineering" ];
    device = "laptop-042"; device_groups = [ "managed" ];
    to = "198.51.100.10 tcp/22"; expect = "deny"; }
);
EOF
say "The gateway's policy.conf says who may reach what. Here: people of the group engineering, on a managed device, may reach corp's web server (tcp/80) and ping it; nothing else, so not corp's port 22. Only alice may use the laptop laptop-042. The policy carries its own tests:"
sed 's/^/    /' "$ZT_TMP/gw/policy.conf"
say "ztvpn-server -n checks the configuration, the policy and its tests without starting:"
run_fg check 10 "$NS_GW" "$SERVER_BIN" -n -c "$ZT_TMP/gw/server.conf"
sed 's/^/    /' "$(bg_log check)"
((FG_STATUS == 0)) || bail "ztvpn-server -n refused the configuration"
say "ztvpn-server listens on 192.0.2.1:8443 and hands out addresses from 100.64.0.0/24:"
start_bg server "$NS_GW" "$SERVER_BIN" -c "$ZT_TMP/gw/server.conf"
wait_for 10 has_line "listening on" "$(bg_log server)" ||
	bail "ztvpn-server did not start"
wait_for 10 has_line "seccomp on" "$(bg_log server)" ||
	bail "ztvpn-server's network process did not enter its sandbox"
sed 's/^/    /' "$(bg_log server)"
net_pid=$(sed -nE 's/.*network process ([0-9]+): user .*/\1/p' "$(bg_log server)" | head -n 1)
[[ -n $net_pid && -r /proc/$net_pid/status ]] || bail "ztvpn-server has no network process"
say "It runs as two processes: root set up the TUN device and the listener, then the part that talks to the network gave up root, every capability and most system calls (seccomp) before serving anyone. From /proc/$net_pid/status:"
grep -E '^(Uid|Gid|CapEff|CapPrm|NoNewPrivs|Seccomp):' "/proc/$net_pid/status" | sed 's/^/    /'

section "6. A laptop that is turned away"
write_client_conf "$ZT_TMP/laptop1/expired.conf" \
	"$ZT_PKI/bad/device-expired" "$ZT_PKI/users/alice"
say "First, alice tries from a laptop whose device certificate expired in 2020. Her own certificate is fine, but both must be:"
run_fg rejected 20 "$NS_L1" "$CLIENT_BIN" -c "$ZT_TMP/laptop1/expired.conf"
sed 's/^/    /' "$(bg_log rejected)"
if quiet nsx "$NS_L1" ip link show ztvpn0; then
	say "ztvpn-client exited with status $FG_STATUS (1 = rejected by the server)."
else
	say "ztvpn-client exited with status $FG_STATUS (1 = rejected by the server) and left no tunnel interface behind."
fi

section "7. The laptop"
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
say "The laptop's client.conf names the gateway, the server CA, and two certificate/key pairs: the device's and alice's."
sed -n '/^[a-z]/s/^/    /p' "$ZT_TMP/laptop1/client.conf"
say "ztvpn-client connects, proves the device in TLS and alice inside the TLS session, and is admitted:"
start_bg client "$NS_L1" "$CLIENT_BIN" -c "$ZT_TMP/laptop1/client.conf"
wait_for 15 has_line "tunnel up" "$(bg_log client)" ||
	bail "the tunnel did not come up"
sed 's/^/    /' "$(bg_log client)"

say "The laptop's tunnel address:"
show laptop "$NS_L1" ip -br addr show ztvpn0
say "The routes the gateway pushed: only what alice on this laptop may reach."
show laptop "$NS_L1" ip route

section "8. Traffic through the tunnel"
say "A ping from the laptop to corp now goes through the tunnel (the policy allows icmp):"
show laptop "$NS_L1" ping -c 3 -i 0.3 "$CORP_ADDR" ||
	bail "the ping through the tunnel failed"
say "And a web page (tcp/80 is allowed too):"
show laptop "$NS_L1" curl -sS --max-time 10 "http://$CORP_ADDR/" ||
	bail "the HTTP fetch through the tunnel failed"
say "corp saw the laptop's tunnel address, not its real one:"
sed 's/^/    /' "$(bg_log http)" | grep '"GET' || true
say "The packets travelled as encrypted UDP datagrams, keyed from the TLS session that proved both identities; the TLS connection stays for control messages and as the fallback when UDP is blocked. Both sides logged the switch:"
wait_for 5 has_line 'data to the client now over UDP' "$(bg_log server)" ||
	bail "the gateway never used the UDP data channel"
grep -hE 'UDP' "$(bg_log client)" "$(bg_log server)" | sed 's/^/    /'

# show_as WHO DISPLAY NS CMD...: like show, but print DISPLAY as the
# command (the real one has long temporary paths).
show_as() {
	local who=$1 display=$2 ns=$3 out status=0
	shift 3
	printf '\n  %s$ %s\n' "$who" "$display"
	out=$(nsx "$ns" "$@" 2>&1) || status=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	return "$status"
}

demo_policy() {
	local status=0 ms t0 n
	section "9. What the policy refuses"
	say "corp also listens on port 22, but no rule lets alice reach it. The gateway drops the laptop's connection attempts, so the connection times out:"
	t0=$(now_us)
	show laptop "$NS_L1" curl -sS --max-time 3 "telnet://$CORP_ADDR:22" </dev/null || status=$?
	ms=$((($(now_us) - t0) / 1000))
	((status == 28)) || bail "the connection to corp port 22 did not time out (curl status $status)"
	say "(curl gave up after $ms ms.) The packets were dropped at the gateway, not by corp: corp's port 22 saw no connection at all. The gateway counts drops per session and reason, and logs them at most once a second:"
	wait_for 3 has_line 'dropped packet: policy' "$(bg_log server)" ||
		bail "the gateway logged no dropped packet"
	grep 'dropped packet: policy' "$(bg_log server)" | sed 's/^/    /'
	n=$(sed -n 's/.*dropped packet: policy (\([0-9]*\) so far).*/\1/p' "$(bg_log server)" | tail -n1)
	say "By its last line the gateway had dropped $n packets of alice's session for the policy (the first SYN and the kernel's retries of it)."
	! has_line '^connection to' "$(bg_log ssh)" || bail "corp's port 22 saw a connection"
	say "An administrator can ask the same configuration, offline, what it allows and which rule decides:"
	show_as gateway 'ztvpn-server -c server.conf -q alice:engineering laptop-042:managed "198.51.100.10 tcp/80"' \
		"$NS_GW" "$SERVER_BIN" -c "$ZT_TMP/gw/server.conf" -q alice:engineering laptop-042:managed "$CORP_ADDR tcp/80" ||
		bail "the offline query did not allow tcp/80"
	show_as gateway 'ztvpn-server -c server.conf -q alice:engineering laptop-042:managed "198.51.100.10 tcp/22"' \
		"$NS_GW" "$SERVER_BIN" -c "$ZT_TMP/gw/server.conf" -q alice:engineering laptop-042:managed "$CORP_ADDR tcp/22" &&
		bail "the offline query allowed tcp/22"
	show_as gateway 'ztvpn-server -c server.conf -q bob:sales laptop-042:managed "198.51.100.10 tcp/80"' \
		"$NS_GW" "$SERVER_BIN" -c "$ZT_TMP/gw/server.conf" -q bob:sales laptop-042:managed "$CORP_ADDR tcp/80" &&
		bail "the offline query admitted bob on alice's laptop"
	say "(Exit status 0 means allowed, 1 refused.)"
}
demo_policy

section "10. What the gateway recorded"
say "Every admission, rejection and session end is an audit record:"
grep 'audit event=' "$(bg_log server)" | sed 's/^/    /' || true

section "11. Cleaning up"
bg_stop client
bg_stop server
say "Stopped the client and the gateway:"
grep 'audit event=end' "$(bg_log server)" | sed 's/^/    /' || true
say "The namespaces and temporary files are removed as the demo exits."
echo
echo "Demo complete."
