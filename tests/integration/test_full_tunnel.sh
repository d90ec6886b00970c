#!/bin/bash
# Full tunnel: the concentrator (tunnel.full_tunnel = true) pushes the
# default route; the policy still decides on every packet. The client must
# route everything into the tunnel except its own connection to the
# concentrator, which keeps its current way out through a pinned host route
# (removed again when the client stops). The pushed 0.0.0.0/0 is installed
# as 0.0.0.0/1 + 128.0.0.0/1, so that a laptop's own default route is
# overridden without being replaced, and is still there afterwards.
#
# 1. The standard topology: laptop1 is on the concentrator's network, the
#    pin is an on-link route. Checked: the default halves via ztvpn0, corp
#    (198.51.100.10, allowed) answers, 203.0.113.7 (outside the policy)
#    enters the tunnel and is dropped by the policy, and the session
#    survives: no reconnect, a 5 MB transfer completes.
# 2. The laptop behind a router, so that the server is NOT on-link:
#
#      laptopR eth0 203.0.113.2/24 -- 203.0.113.1 [router] 192.0.2.254 -- br0 [gateway]
#
#    laptopR's default route via 203.0.113.1, the gateway's route back to
#    203.0.113.0/24 via 192.0.2.254. Without the pin the default halves
#    would take the connection to 192.0.2.1 into the tunnel itself. Checked:
#    the pin "192.0.2.1 via 203.0.113.1" while connected, corp reachable, a
#    transfer completes, the laptop's default route untouched, and after the
#    client stops: no pin, no halves, the default route still there.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init full_tunnel
require_bins server client
zt_pki
topo_up 1

OUTSIDE=203.0.113.7 # not in the policy: must enter the tunnel and be dropped

conf=$ZT_TMP/gw/server.conf
write_server_conf "$conf" 'policy = "policy.conf";' 'full_tunnel = true;'
must "server.conf with full_tunnel = true" grep -q '^  full_tunnel = true;$' "$conf"
cat >"$ZT_TMP/gw/policy.conf" <<'EOF'
rules = ( { name = "corp"; users = [ "*" ]; devices = [ "*" ]; allow = [ "198.51.100.10 icmp tcp/5001" ]; } );
EOF
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"

# routes_via NS DEV PREFIX...: every PREFIX has a route out of DEV in NS.
routes_via() {
	local ns=$1 dev=$2 p
	shift 2
	for p in "$@"; do
		route_dev "$ns" "$p" "$dev" || { log "no route $p dev $dev"; return 1; }
	done
}

# goes_via NS DST DEV: the kernel routes DST out of DEV (ip route get).
goes_via() {
	local out
	out=$(nsx "$1" ip route get "$2" 2>&1) || { log "ip route get $2: $out"; return 1; }
	grep -qw -- "dev $3" <<<"$out" || { log "ip route get $2: $out"; return 1; }
}

# route_is NS PREFIX LINE: `ip route show PREFIX` in NS is exactly LINE.
route_is() {
	local out
	out=$(nsx "$1" ip route show "$2" | sed 's/ *$//')
	[[ $out == "$3" ]] || { log "ip route show $2: '$out' (wanted '$3')"; return 1; }
}

no_route() {
	local out
	out=$(nsx "$1" ip route show "$2")
	[[ -z $out ]] || { log "ip route show $2: '$out' (wanted none)"; return 1; }
}

# policy_drop_after N: more than N "dropped packet: policy" lines for
# alice@laptop-042, after one more ping to $OUTSIDE from NS $PING_NS (the
# log is rate-limited to one line a second, so ping until one shows).
policy_drop_after() {
	no_ping "$PING_NS" "$OUTSIDE" || { log "$OUTSIDE answered"; return 1; }
	at_least $(($1 + 1)) "$(drop_log_re alice laptop-042 policy)" "$(bg_log server)"
}

# connected_once NAME: the client logged exactly one admission and no
# disconnection (its connection never broke).
connected_once() {
	local log
	log=$(bg_log "$1")
	(($(count 'ztvpn-client: info: admitted: ' "$log") == 1)) &&
		! has_line 'ztvpn-client: warning: disconnected: ' "$log"
}

must "server starts and listens on $SERVER_ENDPOINT" start_server

# --- 1. the server on the laptop's own network ---------------------------------

log "part 1: laptop1 on the concentrator's network"
must "client (alice on laptop-042) brings the full tunnel up" \
	start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
routes=$(client_routes client1)
check "the server pushed the default route only (got '$routes')" \
	test "$routes" = 0.0.0.0/0
check "the default route is installed as 0.0.0.0/1 and 128.0.0.0/1 via ztvpn0" \
	routes_via "$NS_L1" ztvpn0 0.0.0.0/1 128.0.0.0/1
check "the client pinned the on-link server: 192.0.2.1 dev eth0 scope link" \
	route_is "$NS_L1" 192.0.2.1/32 "192.0.2.1 dev eth0 proto static scope link"
check "the client logged the pin" \
	has_line 'ztvpn-client: info: host route to the server 192\.0\.2\.1 pinned outside ztvpn0' \
	"$(bg_log client1)"
check "the connection to the server stays outside the tunnel (dev eth0)" \
	goes_via "$NS_L1" "$GW_LAN" eth0
check "$OUTSIDE is routed into the tunnel" goes_via "$NS_L1" "$OUTSIDE" ztvpn0
check "laptop1 pings corp $CORP_ADDR (allowed by the policy)" \
	ping_ok "$NS_L1" "$CORP_ADDR" 5
n=$(count "$(drop_log_re alice laptop-042 policy)" "$(bg_log server)")
PING_NS=$NS_L1
check "a ping to $OUTSIDE goes unanswered and the server drops it: policy" \
	wait_for 8 policy_drop_after "$n"
check "5 MB over TCP to corp port 5001 arrive intact (sha256)" \
	tcp_transfer xfer1 "$NS_L1" 5001 5 up
check "the client is still running" bg_alive client1
check "the session never broke: one admission, no disconnection" \
	connected_once client1
check "the server admitted alice/laptop-042 once" \
	test "$(count "$(audit_admit_re alice laptop-042 '[0-9.]+' "$L1_ADDR")" "$(bg_log server)")" = 1

bg_stop client1
check "client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
check "the pin is gone after the client stopped" no_route "$NS_L1" 192.0.2.1/32
check "the default halves are gone after the client stopped" \
	no_route "$NS_L1" 0.0.0.0/1
check "laptop1 still reaches the server's network directly" \
	ping_ok "$NS_L1" "$GW_LAN"

# --- 2. the laptop behind a router: a real pin through a gateway ---------------

log "part 2: laptopR behind a router, the server not on-link"
LR_ADDR=203.0.113.2
RTR_LAPTOP=203.0.113.1
RTR_LAN=192.0.2.254
NS_RTR=${NS_GW%-gw}-router
NS_LR=${NS_GW%-gw}-laptopR
new_ns "$NS_RTR"
new_ns "$NS_LR"
bridge_pin_mac
bridge_port rtr "$NS_RTR" lan0 "$RTR_LAN"
veth_link "$NS_RTR" lap0 "$RTR_LAPTOP" "$NS_LR" eth0 "$LR_ADDR"
nsx "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NS_LR" route add default via "$RTR_LAPTOP"
ip -n "$NS_GW" route add 203.0.113.0/24 via "$RTR_LAN"
LR_DEFAULT="default via $RTR_LAPTOP dev eth0"
must "laptopR reaches the server $GW_LAN through the router" \
	wait_for 5 quiet nsx "$NS_LR" ping -c1 -W1 -q "$GW_LAN"
check "before the tunnel, laptopR reaches $GW_LAN via the router" \
	goes_via "$NS_LR" "$GW_LAN" eth0

write_client_conf "$ZT_TMP/laptopR/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
must "client on laptopR brings the full tunnel up" \
	start_client clientR "$NS_LR" "$ZT_TMP/laptopR/client.conf"
check "the client pinned the server through the router: 192.0.2.1 via $RTR_LAPTOP" \
	route_is "$NS_LR" 192.0.2.1/32 "192.0.2.1 via $RTR_LAPTOP dev eth0 proto static"
check "the default route is installed as 0.0.0.0/1 and 128.0.0.0/1 via ztvpn0" \
	routes_via "$NS_LR" ztvpn0 0.0.0.0/1 128.0.0.0/1
check "laptopR's own default route is still there" \
	route_is "$NS_LR" default "$LR_DEFAULT"
check "the connection to the server goes via the router, not the tunnel" \
	goes_via "$NS_LR" "$GW_LAN" eth0
check "the rest of the server's network goes into the tunnel" \
	goes_via "$NS_LR" 192.0.2.99 ztvpn0
check "laptopR pings corp $CORP_ADDR through the tunnel" \
	ping_ok "$NS_LR" "$CORP_ADDR" 5
n=$(count "$(drop_log_re alice laptop-042 policy)" "$(bg_log server)")
PING_NS=$NS_LR
OUTSIDE=198.51.100.99
check "a ping to $OUTSIDE goes unanswered and the server drops it: policy" \
	wait_for 8 policy_drop_after "$n"
check "5 MB over TCP to corp port 5001 arrive intact (sha256)" \
	tcp_transfer xferR "$NS_LR" 5001 5 up
check "the client on laptopR is still running" bg_alive clientR
check "its session never broke: one admission, no disconnection" \
	connected_once clientR
check "the server saw it come from $LR_ADDR through the router" \
	has_line "$(audit_admit_re alice laptop-042 '[0-9.]+' "$LR_ADDR")" "$(bg_log server)"

bg_stop clientR
check "client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
check "the pin is gone after the client stopped" no_route "$NS_LR" 192.0.2.1/32
check "the default halves are gone after the client stopped" \
	no_route "$NS_LR" 128.0.0.0/1
check "laptopR's own default route is still there" \
	route_is "$NS_LR" default "$LR_DEFAULT"
check "laptopR reaches the server through the router again" \
	ping_ok "$NS_LR" "$GW_LAN"

check "the server is still running" bg_alive server
bg_stop server
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
