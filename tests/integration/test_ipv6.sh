#!/bin/bash
# IPv6 through the tunnel: with pool6 = fd00:5a::/64 and a pushed corp
# IPv6 route (fd00:c0::/64), alice on laptop-042 gets fd00:5a::2/128 next to
# 100.64.0.2/32, pings corp's fd00:c0::10 and moves 5 MB over TCP/IPv6
# intact. Also: `ztvpn-server -n` refuses an mtu below 1280 with pool6.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init ipv6
require_bins server client
zt_pki

# server6_conf FILE: the standard gateway configuration plus pool6 and the
# corp IPv6 route.
server6_conf() {
	write_server_conf "$1"
	sed -i -e "s|^  pool4 = .*|&\\n  pool6 = \"$POOL6\";|" \
		-e "s|^  routes = .*|  routes = [ \"198.51.100.0/24\", \"$CORP_NET6\" ];|" "$1"
	grep -q "pool6 = \"$POOL6\"" "$1" && grep -q "\"$CORP_NET6\" \\]" "$1"
}

# --- configuration check: IPv6 needs an mtu of at least 1280 ---
must "server.conf with pool6 and an IPv6 route is written" \
	server6_conf "$ZT_TMP/conf/mtu1200.conf"
sed -i 's|^  mtu = 1400;|  mtu = 1200;|' "$ZT_TMP/conf/mtu1200.conf"
line=$(grep -n '^  mtu = 1200;' "$ZT_TMP/conf/mtu1200.conf" | cut -d: -f1)
run_fg mtu1200 10 - "$SERVER_BIN" -n -c "$ZT_TMP/conf/mtu1200.conf"
check "server -n refuses mtu = 1200 with pool6: exit status 2 (got $FG_STATUS)" \
	test "$FG_STATUS" = 2
check "the error names mtu1200.conf:${line:-?} (the mtu line)" \
	has_line "mtu1200\\.conf:$line: " "$(bg_log mtu1200)"
server6_conf "$ZT_TMP/conf/mtu1280.conf"
sed -i 's|^  mtu = 1400;|  mtu = 1280;|' "$ZT_TMP/conf/mtu1280.conf"
run_fg mtu1280 10 - "$SERVER_BIN" -n -c "$ZT_TMP/conf/mtu1280.conf"
check "server -n accepts mtu = 1280 with pool6 (exit status $FG_STATUS)" \
	test "$FG_STATUS" = 0

# --- the tunnel over IPv6 ---
topo_up 1
topo_v6
must "server.conf with pool6 = $POOL6 and route $CORP_NET6 is written" \
	server6_conf "$ZT_TMP/gw/server.conf"
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"

must "server starts and listens on $SERVER_ENDPOINT" start_server
check "laptop1 does not reach corp $CORP_ADDR6 before the tunnel is up" \
	no_ping "$NS_L1" "$CORP_ADDR6"

must "client (alice on laptop-042) brings the tunnel up" \
	start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
addr=$(client_addr client1)
addr6=$(client_addr6 client1)
check "client logs the addresses 100.64.0.2 and fd00:5a::2 (got '$addr' '$addr6')" \
	test "$addr $addr6" = "100.64.0.2 fd00:5a::2"
check "the client's ztvpn0 has 100.64.0.2/32" \
	has_addr "$NS_L1" ztvpn0 100.64.0.2/32
check "the client's ztvpn0 has fd00:5a::2/128" \
	has_addr "$NS_L1" ztvpn0 fd00:5a::2/128
check "server audits the admission with addr4=100.64.0.2 addr6=fd00:5a::2" \
	wait_for 5 has_line "$(audit_admit_re alice laptop-042 100.64.0.2 "$L1_ADDR")" \
	"$(bg_log server)"
check "the admit line has addr6=fd00:5a::2" \
	has_line 'audit event=admit .* addr4=100\.64\.0\.2 addr6=fd00:5a::2 ' "$(bg_log server)"
check "the pushed route $CORP_NET6 goes via ztvpn0 on laptop1" \
	route_dev "$NS_L1" "$CORP_NET6" ztvpn0
check "the pushed route 198.51.100.0/24 goes via ztvpn0 on laptop1" \
	route_dev "$NS_L1" 198.51.100.0/24 ztvpn0
check "the gateway's ztvpn0 has fd00:5a::1/64" \
	has_addr "$NS_GW" ztvpn0 fd00:5a::1/64
check "the gateway's ztvpn0 has 100.64.0.1/24" \
	has_addr "$NS_GW" ztvpn0 100.64.0.1/24

check "laptop1 pings corp $CORP_ADDR6 (ping -6) through the tunnel" \
	ping_ok "$NS_L1" "$CORP_ADDR6" 5
check "laptop1 still pings corp $CORP_ADDR over IPv4" \
	ping_ok "$NS_L1" "$CORP_ADDR" 3
check "5 MB over TCP/IPv6 from laptop1 to corp arrive intact (sha256)" \
	tcp_transfer up6 "$NS_L1" 5001 5 up "$CORP_ADDR6"
check "5 MB over TCP/IPv6 from corp to laptop1 arrive intact (sha256)" \
	tcp_transfer down6 "$NS_L1" 5002 5 down "$CORP_ADDR6"

check "the server is still running" bg_alive server
check "the client is still running" bg_alive client1
bg_stop client1
check "client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
bg_stop server
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
check "the server dropped no spoofed or malformed packets" \
	has_line 'ztvpn-server: info: stopped: .* drops: spoofed 0, malformed 0,' "$(bg_log server)"

zt_finish
