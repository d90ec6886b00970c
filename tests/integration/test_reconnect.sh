#!/bin/bash
# The client survives a server restart: it logs the disconnection, retries
# with backoff, and within ~15 s of the server's return the tunnel is up
# again and passes traffic.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init reconnect
require_bins server client
zt_pki
topo_up 1

write_server_conf "$ZT_TMP/gw/server.conf"
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"

must "server starts" start_server
must "client is up" start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
clog=$(bg_log client1)
check "client pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3

log "stopping the server (SIGTERM to pid $(bg_pid server))"
bg_stop server
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
check "client logs the disconnection" \
	wait_for 10 has_line 'ztvpn-client: warning: disconnected' "$clog"
check "client logs 'reconnecting in Ns'" \
	wait_for 5 has_line 'reconnecting in [0-9]+ ?s' "$clog"
check "client keeps running while the server is away" bg_alive client1
sleep 2

log "starting the server again"
must "server starts again" start_server server2
t0=$(now_us)
if wait_for 20 at_least 2 'ztvpn-client: info: tunnel up: ' "$clog"; then
	secs=$((($(now_us) - t0) / 1000000))
	check "client brings the tunnel up again ${secs}s after the server returned (<= 15 s)" \
		test "$secs" -le 15
else
	not_ok "client did not bring the tunnel up again within 20 s"
fi
check "client got 100.64.0.2 again (got '$(client_addr client1)')" \
	test "$(client_addr client1)" = 100.64.0.2
check "the new server audits the admission" \
	wait_for 5 has_line "$(audit_admit_re alice laptop-042 100.64.0.2 "$L1_ADDR")" \
	"$(bg_log server2)"
check "ping through the tunnel works again" \
	wait_for 5 ping_ok "$NS_L1" "$CORP_ADDR" 1
check "20 MB move intact after the reconnect" tcp_transfer after "$NS_L1" 5001 20 up

zt_finish
