#!/bin/bash
# One client (laptop1: alice on laptop-042) reaches corp through the tunnel:
# ping, a 20 MB TCP transfer with matching sha256, an HTTP fetch.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init tunnel
require_bins server client
zt_pki
topo_up 1

write_server_conf "$ZT_TMP/gw/server.conf"
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"

must "server starts and listens on $SERVER_ENDPOINT" start_server
check "laptop1 does not reach corp before the tunnel is up" \
	no_ping "$NS_L1" "$CORP_ADDR"

must "client (alice on laptop-042) brings the tunnel up" \
	start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
addr=$(client_addr client1)
check "client got the first pool address 100.64.0.2 (got '$addr')" \
	test "$addr" = 100.64.0.2
check "server audits the admission of alice/laptop-042 at 100.64.0.2 from $L1_ADDR" \
	wait_for 5 has_line "$(audit_admit_re alice laptop-042 100.64.0.2 "$L1_ADDR")" \
	"$(bg_log server)"
check "the client's ztvpn0 has 100.64.0.2/32" \
	has_addr "$NS_L1" ztvpn0 100.64.0.2/32
check "the pushed route 198.51.100.0/24 goes via ztvpn0" \
	route_dev "$NS_L1" 198.51.100.0/24 ztvpn0
check "the gateway's ztvpn0 has 100.64.0.1/24" \
	has_addr "$NS_GW" ztvpn0 100.64.0.1/24

check "laptop1 pings corp $CORP_ADDR through the tunnel" ping_ok "$NS_L1" "$CORP_ADDR" 5

check "20 MB over TCP from laptop1 to corp arrive intact (sha256)" \
	tcp_transfer up "$NS_L1" 5001 20 up
check "20 MB over TCP from corp to laptop1 arrive intact (sha256)" \
	tcp_transfer down "$NS_L1" 5002 20 down

mkdir -p "$ZT_TMP/www"
echo "hello from corp" >"$ZT_TMP/www/index.html"
start_bg http "$NS_CORP" python3 -m http.server 80 --bind "$CORP_ADDR" \
	--directory "$ZT_TMP/www"
wait_for 10 port_listening "$NS_CORP" 80 || log "http server not listening"
body=$(nsx "$NS_L1" curl -sS --max-time 10 "http://$CORP_ADDR/" 2>&1) || true
check "HTTP fetch from corp through the tunnel (got '$body')" \
	test "$body" = "hello from corp"
check "corp saw the request from the tunnel address 100.64.0.2" \
	wait_for 3 has_line '^100\.64\.0\.2 .*"GET / HTTP' "$(bg_log http)"

check "the server is still running" bg_alive server
check "the client is still running" bg_alive client1

bg_stop client1
check "client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
check "server audits the end of the session" \
	wait_for 5 has_line 'ztvpn-server: info: audit event=end session=[^ ]+ .*reason=' \
	"$(bg_log server)"
bg_stop server
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
