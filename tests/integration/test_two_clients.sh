#!/bin/bash
# Two clients at once: alice on laptop-042 (laptop1) and bob on laptop-077
# (laptop2) get distinct tunnel addresses and both pass traffic, also at
# the same time.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init two_clients
require_bins server client
zt_pki
topo_up 2

write_server_conf "$ZT_TMP/gw/server.conf"
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
write_client_conf "$ZT_TMP/laptop2/client.conf" \
	"$ZT_PKI/devices/laptop-077" "$ZT_PKI/users/bob"

must "server starts" start_server
must "alice on laptop-042 (laptop1) brings the tunnel up" \
	start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
must "bob on laptop-077 (laptop2) brings the tunnel up" \
	start_client client2 "$NS_L2" "$ZT_TMP/laptop2/client.conf"
a1=$(client_addr client1)
a2=$(client_addr client2)
check "laptop1 got 100.64.0.2 (got '$a1')" test "$a1" = 100.64.0.2
check "laptop2 got 100.64.0.3 (got '$a2')" test "$a2" = 100.64.0.3
slog=$(bg_log server)
check "server audits alice/laptop-042 at 100.64.0.2 from $L1_ADDR" \
	wait_for 5 has_line "$(audit_admit_re alice laptop-042 100.64.0.2 "$L1_ADDR")" "$slog"
check "server audits bob/laptop-077 at 100.64.0.3 from $L2_ADDR" \
	wait_for 5 has_line "$(audit_admit_re bob laptop-077 100.64.0.3 "$L2_ADDR")" "$slog"
check "laptop1's ztvpn0 has 100.64.0.2/32" has_addr "$NS_L1" ztvpn0 100.64.0.2/32
check "laptop2's ztvpn0 has 100.64.0.3/32" has_addr "$NS_L2" ztvpn0 100.64.0.3/32

check "laptop1 pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 5
check "laptop2 pings corp" ping_ok "$NS_L2" "$CORP_ADDR" 5

check "laptop1 moves 20 MB to corp intact" tcp_transfer l1-up "$NS_L1" 5001 20 up
check "laptop2 moves 20 MB to corp intact" tcp_transfer l2-up "$NS_L2" 5002 20 up

log "both laptops transfer 20 MB down at the same time"
xfer_start l1-down "$NS_L1" 5003 20 down || true
xfer_start l2-down "$NS_L2" 5004 20 down || true
check "concurrent 20 MB corp -> laptop1 intact" xfer_finish l1-down
check "concurrent 20 MB corp -> laptop2 intact" xfer_finish l2-down

check "both clients still running" bg_alive client1
check "both clients still running (laptop2)" bg_alive client2
check "server still running" bg_alive server

zt_finish
