#!/bin/bash
# Capacity limits refuse a client with a reason it can see, give it no
# tunnel, and it keeps retrying (no-address is retryable):
#   - max_sessions = 1: while alice on laptop-042 (laptop1) is connected,
#     bob on laptop-077 (laptop2) is refused ("the concentrator is full");
#     once alice has gone, bob gets in;
#   - pool4 = 100.64.0.0/30 (one client address): the second client is
#     refused with "no tunnel address left in the pool", and gets the
#     address when the first one leaves.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init limits
require_bins server client
zt_pki
topo_up 2

write_server_conf "$ZT_TMP/gw/max1.conf" 'max_sessions = 1;'
write_server_conf "$ZT_TMP/gw/pool30.conf"
sed -i 's|^  pool4 = "100.64.0.0/24";|  pool4 = "100.64.0.0/30";|' "$ZT_TMP/gw/pool30.conf"
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
# bob retries every 1-2 s, so the waits for his attempts stay short.
write_client_conf "$ZT_TMP/laptop2/client.conf" \
	"$ZT_PKI/devices/laptop-077" "$ZT_PKI/users/bob" gw.corp.example \
	'max_backoff = 2;'
must "pool30.conf has pool4 = 100.64.0.0/30" \
	has_line '^  pool4 = "100\.64\.0\.0/30";' "$ZT_TMP/gw/pool30.conf"

# refused NAME NS REASON_RE SERVER: the client started as NAME in NS is
# refused (reason matching REASON_RE) at least twice, keeps running and
# has no tunnel; the server audits the refusals as no-address.
refused() {
	local name=$1 ns=$2 re=$3 server=$4 clog slog
	clog=$(bg_log "$name") slog=$(bg_log "$server")
	check "$name logs 'rejected by server: ...$re...'" \
		wait_for 10 has_line "ztvpn-client: warning: disconnected: rejected by server: .*$re" "$clog"
	check "$name treats it as retryable: 'reconnecting in Ns'" \
		wait_for 5 has_line 'ztvpn-client: info: reconnecting in [0-9]+ ?s' "$clog"
	check "$name retries and is refused again (backoff, bounded 10 s)" \
		wait_for 10 at_least 2 "rejected by server: .*$re" "$clog"
	check "$name keeps running" bg_alive "$name"
	check "$name got no tunnel (no 'tunnel up')" \
		fails has_line 'tunnel up' "$clog"
	check "$name has no ztvpn0 device" \
		fails quiet nsx "$ns" ip link show ztvpn0
	check "server audits the refusals: event=reject reason=no-address for laptop-077" \
		at_least 2 "$(audit_reject_re no-address).*device=\"laptop-077\" detail=\"[^\"]*$re" "$slog"
	check "server admitted only the first client so far" \
		test "$(count 'audit event=admit ' "$slog")" = 1
}

# --- max_sessions = 1 ---
must "server (max_sessions = 1) starts" start_server server "$ZT_TMP/gw/max1.conf"
must "alice on laptop-042 (laptop1) is admitted" \
	start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
check "laptop1 got 100.64.0.2 (got '$(client_addr client1)')" \
	test "$(client_addr client1)" = 100.64.0.2
start_bg client2 "$NS_L2" "$CLIENT_BIN" "${ZT_DEBUG_FLAG[@]}" -c "$ZT_TMP/laptop2/client.conf"
refused client2 "$NS_L2" 'full' server
check "laptop1 still pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3
bg_stop client2
check "refused client2 exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

bg_stop client1
check "alice's client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
check "server audits the end of alice's session" \
	wait_for 5 has_line 'audit event=end session=[^ ]+ user="alice" device="laptop-042" ' \
	"$(bg_log server)"
must "bob on laptop-077 (laptop2, restarted) is admitted now" \
	start_client client2b "$NS_L2" "$ZT_TMP/laptop2/client.conf"
check "laptop2 got 100.64.0.2 back from the pool (got '$(client_addr client2b)')" \
	test "$(client_addr client2b)" = 100.64.0.2
check "server audits the admission of bob/laptop-077 from $L2_ADDR" \
	wait_for 5 has_line "$(audit_admit_re bob laptop-077 100.64.0.2 "$L2_ADDR")" \
	"$(bg_log server)"
check "laptop2 pings corp through the tunnel" ping_ok "$NS_L2" "$CORP_ADDR" 3
bg_stop client2b
bg_stop server
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

# --- a pool with a single client address ---
must "server (pool4 100.64.0.0/30) starts" start_server server30 "$ZT_TMP/gw/pool30.conf"
must "alice on laptop-042 (laptop1) is admitted" \
	start_client client1b "$NS_L1" "$ZT_TMP/laptop1/client.conf"
check "laptop1 got the only client address 100.64.0.2 (got '$(client_addr client1b)')" \
	test "$(client_addr client1b)" = 100.64.0.2
start_bg client2c "$NS_L2" "$CLIENT_BIN" "${ZT_DEBUG_FLAG[@]}" -c "$ZT_TMP/laptop2/client.conf"
refused client2c "$NS_L2" 'no tunnel address left in the pool' server30
check "laptop1 still pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3

log "alice leaves; bob's client, still retrying, must get the address"
bg_stop client1b
check "alice's client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
check "bob's retrying client is admitted within 10 s" \
	wait_for 10 has_line 'ztvpn-client: info: tunnel up: ' "$(bg_log client2c)"
check "laptop2 got 100.64.0.2 (got '$(client_addr client2c)')" \
	test "$(client_addr client2c)" = 100.64.0.2
check "laptop2 pings corp through the tunnel" \
	wait_for 5 ping_ok "$NS_L2" "$CORP_ADDR" 1
bg_stop client2c
check "client2c exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
bg_stop server30
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
