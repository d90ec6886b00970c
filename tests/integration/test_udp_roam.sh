#!/bin/bash
# Roaming (issue 4): the concentrator follows the newest authenticated
# datagram. While 16 MB go each way at 1 MB/s over UDP, laptop1's outer
# address changes from 192.0.2.2 to 192.0.2.77 (the new one added, the old
# one deleted). Then:
#   - both transfers arrive intact (sha256);
#   - the server keeps the same session (sessions --json "id") and tunnel
#     address, its udp_endpoint shows 192.0.2.77, ztvpn_udp_roams_total
#     grew;
#   - the client's TLS connection, broken with the old address, is made
#     again from the new one and re-attaches to the same session
#     (re-authentication): within 40 s "reauths" >= 1 and the session's
#     TLS endpoint is 192.0.2.77, with the same session id and address on
#     both sides, and no end of session audited.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init udp_roam
require_bins server client "$CTL_BIN"
zt_pki
topo_up 1

NEW_ADDR=192.0.2.77
must "server.conf with udp_listen = \"$UDP_ENDPOINT\", alice's client.conf" udp_alice_confs

# from ADDR FIELD: the server's session FIELD (an ADDR:PORT) has host ADDR.
from() {
	local ep
	ep=$(session_json_field "$SOCK" "$2") || return 1
	[[ ${ep%:*} == "$1" ]]
}
both_moving() { moving roam-up && moving roam-down; }

must "server starts" start_server
slog=$(bg_log server)
must "alice on laptop-042 (laptop1) brings the tunnel up" \
	start_client alice "$NS_L1" "$ZT_TMP/laptop1/client.conf"
must "the session moves to the UDP path (10 s)" wait_for 10 session_field_is "$SOCK" path udp
check "its udp_endpoint is $L1_ADDR" from "$L1_ADDR" udp_endpoint
check "its TLS endpoint is $L1_ADDR" from "$L1_ADDR" endpoint
id=$(session_json_field "$SOCK" id) || id=
addr=$(session_json_field "$SOCK" addr4) || addr=
log "session id '$id', address '$addr'"
must "the session has an id and an address" test -n "$id" -a -n "$addr"
prom_snap "$SOCK" p0

# Deleting the primary address would take the new (secondary) one with it.
nsx "$NS_L1" sysctl -qw net.ipv4.conf.eth0.promote_secondaries=1
must "16 MB laptop1 -> corp start at 1 MB/s" xfer_start_paced roam-up "$NS_L1" 5001 16 up 1000
must "16 MB corp -> laptop1 start at 1 MB/s" xfer_start_paced roam-down "$NS_L1" 5002 16 down 1000
check "both move over UDP" both_moving

T0=$(now_us)
must "laptop1's eth0 gets $NEW_ADDR/24" ip -n "$NS_L1" addr add "$NEW_ADDR/24" dev eth0
must "... and loses $L1_ADDR/24" ip -n "$NS_L1" addr del "$L1_ADDR/24" dev eth0
only_new() { has_addr "$NS_L1" eth0 "$NEW_ADDR/24" && ! has_addr "$NS_L1" eth0 "$L1_ADDR/24"; }
check "laptop1 has only $NEW_ADDR now" only_new
if wait_for 10 from "$NEW_ADDR" udp_endpoint; then
	ok "the server's udp_endpoint follows to $NEW_ADDR ($((($(now_us) - T0) / 1000)) ms)"
else
	not_ok "the server's udp_endpoint is '$(session_json_field "$SOCK" udp_endpoint)' 10 s after the change"
fi
check "both transfers keep moving" both_moving
prom_snap "$SOCK" p1
check "ztvpn_udp_roams_total grew" prom_grew p0 p1 ztvpn_udp_roams_total 1
check "16 MB laptop1 -> corp arrive intact (sha256)" xfer_finish roam-up 30
check "16 MB corp -> laptop1 arrive intact (sha256)" xfer_finish roam-down 30
check "the session id is still $id" session_field_is "$SOCK" id "$id"
check "the tunnel address is still $addr" session_field_is "$SOCK" addr4 "$addr"
check "the session is on the UDP path" session_field_is "$SOCK" path udp

# The old TLS connection is dead; the client notices and re-attaches.
if wait_for 40 session_field_ge "$SOCK" reauths 1; then
	ok "the client re-attached over a new TLS connection ($((($(now_us) - T0) / 1000)) ms after the change)"
else
	not_ok "no re-authentication within 40 s (reauths '$(session_json_field "$SOCK" reauths)')"
fi
check "the session's TLS endpoint is $NEW_ADDR" wait_for 3 from "$NEW_ADDR" endpoint
check "the session id is still $id" session_field_is "$SOCK" id "$id"
check "the tunnel address is still $addr" session_field_is "$SOCK" addr4 "$addr"
check "one session on the server" test "$(session_count "$SOCK")" = 1
check "the client reports the same session id" client_field_is "$CSOCK" session_id "$id"
check "... the same address" client_field_is "$CSOCK" addr4 "$addr"
check "... with its TLS connection established" client_field_is "$CSOCK" state established
check "... and the UDP path" client_field_is "$CSOCK" path udp
check "no end of session was audited" fails has_line 'audit event=end ' "$slog"
check "laptop1 pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3
prom_snap "$SOCK" p2
check "ztvpn_reauths_total grew" prom_grew p0 p2 ztvpn_reauths_total 1

check "the client is still running" bg_alive alice
check "the server is still running" bg_alive server
bg_stop alice
check "alice's client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
bg_stop server
check "the server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
