#!/bin/bash
# Keepalives (tunnel.keepalive = 1, dead after 3 intervals): when every TCP
# segment between laptop1 and the server is silently dropped (nftables in
# the gateway namespace), both sides notice within ~6 s: the client logs a
# disconnection naming the keepalive and the server ends the session with
# reason=timeout. Once the path is back the client reconnects by itself
# and traffic flows again.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init keepalive
NFT_TABLE=zttest
SERVER_PORT=${SERVER_ENDPOINT##*:}

# blackhole_on: drop, without any answer, every TCP segment between laptop1
# and the server's listening port, in both directions, in a table of our
# own inside the gateway namespace (blackhole_off deletes it; if the test
# stops before that, removing the namespace removes the table with it).
blackhole_on() {
	nsx "$NS_GW" nft -f - <<EOF
table inet $NFT_TABLE {
	chain input {
		type filter hook input priority -10; policy accept;
		ip saddr $L1_ADDR ip daddr $GW_LAN tcp dport $SERVER_PORT drop
	}
	chain output {
		type filter hook output priority -10; policy accept;
		ip saddr $GW_LAN ip daddr $L1_ADDR tcp sport $SERVER_PORT drop
	}
}
EOF
}

blackhole_off() {
	nsx "$NS_GW" nft delete table inet "$NFT_TABLE"
}

nft_table_present() {
	nsx "$NS_GW" nft list table inet "$NFT_TABLE" >/dev/null 2>&1
}

require_bins server client
command -v nft >/dev/null || bail "nft (nftables) is not installed"
topo_up 1
zt_pki

write_server_conf "$ZT_TMP/gw/server.conf"
sed -i 's|^  keepalive = 10;|  keepalive = 1;|' "$ZT_TMP/gw/server.conf"
# Short connection timeout and backoff so that the reconnection after the
# outage is quick and its wait can be tightly bounded.
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice" gw.corp.example \
	'connect_timeout = 3;
max_backoff = 2;'
must "server.conf has keepalive = 1" \
	has_line '^  keepalive = 1;' "$ZT_TMP/gw/server.conf"

must "server starts" start_server
slog=$(bg_log server)
must "client is up" start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
clog=$(bg_log client1)
check "client pings corp through the tunnel" ping_ok "$NS_L1" "$CORP_ADDR" 3
log "idle for 4 s (> 3 keepalive intervals): keepalives must keep the session"
sleep 4
check "an idle session survives on keepalives alone: the client stays connected" \
	fails has_line 'disconnected' "$clog"
check "an idle session survives on keepalives alone: the server ends nothing" \
	fails has_line 'audit event=end' "$slog"

must "nftables table inet $NFT_TABLE drops laptop1 <-> $SERVER_ENDPOINT in the gateway" \
	blackhole_on
t0=$(now_us)
if wait_for 8 has_line 'ztvpn-client: warning: disconnected: .*keepalive' "$clog"; then
	ms=$((($(now_us) - t0) / 1000))
	check "client logs 'disconnected: ...keepalive...' after ${ms} ms (<= 6 s)" \
		test "$ms" -le 6000
else
	not_ok "client logged no 'disconnected: ...keepalive...' within 8 s"
fi
if wait_for 8 has_line 'ztvpn-server: info: audit event=end session=[^ ]+ .*reason=timeout ' "$slog"; then
	ms=$((($(now_us) - t0) / 1000))
	check "server audits event=end reason=timeout after ${ms} ms (<= 6 s)" \
		test "$ms" -le 6000
else
	not_ok "server audited no event=end reason=timeout within 8 s"
fi
check "the end line is for alice/laptop-042" \
	has_line 'audit event=end session=[^ ]+ user="alice" device="laptop-042" reason=timeout ' "$slog"
check "the client keeps running (a timeout is retryable)" bg_alive client1
check "the client keeps its route to corp via ztvpn0 while the tunnel is down" \
	route_dev "$NS_L1" 198.51.100.0/24 ztvpn0
check "no traffic reaches corp while the path is blackholed" \
	no_ping "$NS_L1" "$CORP_ADDR"
check "the client retries with backoff" \
	wait_for 5 has_line 'ztvpn-client: info: reconnecting in [0-9]+ ?s' "$clog"

must "the nftables table is removed" blackhole_off
check "the gateway has no table inet $NFT_TABLE any more" fails nft_table_present
t0=$(now_us)
if wait_for 20 at_least 2 'ztvpn-client: info: tunnel up: ' "$clog"; then
	secs=$((($(now_us) - t0) / 1000000))
	check "client brings the tunnel up again ${secs}s after the path returned (<= 15 s)" \
		test "$secs" -le 15
else
	not_ok "client did not bring the tunnel up again within 20 s"
fi
check "the server audits a second admission of alice/laptop-042" \
	wait_for 5 at_least 2 "$(audit_admit_re alice laptop-042 100.64.0.2 "$L1_ADDR")" "$slog"
check "ping through the tunnel works again" \
	wait_for 5 ping_ok "$NS_L1" "$CORP_ADDR" 1
check "the server is still running" bg_alive server

bg_stop client1
check "client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
bg_stop server
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
