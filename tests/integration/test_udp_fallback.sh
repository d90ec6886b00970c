#!/bin/bash
# When UDP does not get through, a session falls back to the TLS stream and
# returns to UDP when it works again (issue 4). An nftables table of the
# test's own (inet zttest, in the gateway's namespace only) drops the data
# channel: udp dport 8443 on input.
#   1. blocked mid-transfer: while 30 MB go each way at 1 MB/s, the block
#      moves the server's session to "tls" within 8 s and counts a
#      fallback; the transfers keep moving; once the table is deleted the
#      session is back on "udp" within 8 s, datagrams flow again, and both
#      transfers arrive intact;
#   2. blocked at start: a client that connects while the block is on works
#      over TLS (a ping and a 10 MB transfer, not one datagram reaching the
#      server), and moves to UDP within 8 s of the block being lifted.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init udp_fallback
require_bins server client "$CTL_BIN"
command -v nft >/dev/null || bail "nft is not installed (packaging/install-deps.sh)"
zt_pki
topo_up 1

must "server.conf with udp_listen = \"$UDP_ENDPOINT\", alice's client.conf" udp_alice_confs

# block / unblock: add / delete the table that drops the data channel.
block() {
	nsx "$NS_GW" nft -f - <<'EOF'
table inet zttest {
  chain input {
    type filter hook input priority filter; policy accept;
    udp dport 8443 counter drop
  }
}
EOF
}
unblock() { nsx "$NS_GW" nft delete table inet zttest; }
# blocked_count: datagrams the rule has dropped so far.
blocked_count() {
	nsx "$NS_GW" nft list table inet zttest 2>/dev/null |
		sed -n 's/.*udp dport 8443 counter packets \([0-9]*\) .*/\1/p'
}
rule_dropped() {
	local n
	n=$(blocked_count)
	log "the nftables rule dropped ${n:-?} datagrams"
	[[ $n =~ ^[0-9]+$ ]] && ((n > 0))
}
# path_within SECS PATH: the server's session and the client reach PATH
# within SECS; logs how long it took.
path_within() {
	local secs=$1 path=$2 t0
	t0=$(now_us)
	if ! wait_for "$secs" session_field_is "$SOCK" path "$path"; then
		log "the server's session is on '$(session_json_field "$SOCK" path)', not $path, after $secs s"
		return 1
	fi
	log "the server's session is on $path after $((($(now_us) - t0) / 1000)) ms"
}

must "server starts" start_server
must "alice on laptop-042 (laptop1) brings the tunnel up" \
	start_client alice "$NS_L1" "$ZT_TMP/laptop1/client.conf"
must "the session moves to the UDP path (10 s)" path_within 10 udp

# --- 1. blocked mid-transfer ---------------------------------------------------------
prom_snap "$SOCK" p0
must "30 MB laptop1 -> corp start at 1 MB/s" xfer_start_paced fb-up "$NS_L1" 5001 30 up 1000
must "30 MB corp -> laptop1 start at 1 MB/s" xfer_start_paced fb-down "$NS_L1" 5002 30 down 1000
both_moving() { moving fb-up && moving fb-down; }
check "both move over UDP" both_moving
must "nftables drops udp dport 8443 in the gateway" block
check "within 8 s the server's session falls back to the TLS stream" path_within 8 tls
check "the client's status says path tls" wait_for 3 client_field_is "$CSOCK" path tls
prom_snap "$SOCK" p1
check "ztvpn_path_fallbacks_total grew" prom_grew p0 p1 ztvpn_path_fallbacks_total 1
check "the rule did drop datagrams" rule_dropped
check "laptop1 -> corp keeps moving over TLS" moving fb-up
check "corp -> laptop1 keeps moving over TLS" moving fb-down
must "the nftables table is deleted" unblock
check "within 8 s the session is back on UDP" path_within 8 udp
check "the client's status says path udp" wait_for 3 client_field_is "$CSOCK" path udp
prom_snap "$SOCK" p2
check "laptop1 -> corp keeps moving over UDP" moving fb-up
check "corp -> laptop1 keeps moving over UDP" moving fb-down
# 1 MB/s each way is ~700 full datagrams a second one way, and the ACKs.
sleep 1
prom_snap "$SOCK" p3
check "datagrams reach the server again (> 300 in a second)" \
	prom_grew p2 p3 'ztvpn_udp_datagrams_total{direction="in"}' 300
check "... and leave it" prom_grew p2 p3 'ztvpn_udp_datagrams_total{direction="out"}' 300
check "30 MB laptop1 -> corp arrive intact (sha256)" xfer_finish fb-up 40
check "30 MB corp -> laptop1 arrive intact (sha256)" xfer_finish fb-down 40
check "alice's client is still running" bg_alive alice
check "it connected once (one 'tunnel up')" test "$(count 'tunnel up: ' "$(bg_log alice)")" = 1

bg_stop alice
check "alice's client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
no_sessions() { [[ $(session_count "$SOCK") == 0 ]]; }
must "her session is gone" wait_for 5 no_sessions

# --- 2. blocked at start ---------------------------------------------------------------
must "nftables drops udp dport 8443 again" block
must "alice connects again while UDP is blocked" \
	start_client alice2 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
check "laptop1 pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3
# stays_tls SECS: the session stays on the TLS stream for SECS seconds.
stays_tls() {
	local i
	for ((i = 0; i < $1 * 2; i++)); do
		session_field_is "$SOCK" path tls || {
			log "path is '$(session_json_field "$SOCK" path)'"
			return 1
		}
		sleep 0.5
	done
}
check "the session stays on the TLS stream (4 s)" stays_tls 4
prom_snap "$SOCK" p4
check "10 MB laptop1 -> corp over TLS arrive intact (sha256)" tcp_transfer tls-up "$NS_L1" 5003 10 up
check "10 MB corp -> laptop1 over TLS arrive intact (sha256)" tcp_transfer tls-down "$NS_L1" 5004 10 down
prom_snap "$SOCK" p5
no_datagrams() {
	local d
	d=$(prom_delta p4 p5 'ztvpn_udp_datagrams_total{direction="in"}') || return 1
	log "datagrams in: +$d"
	((d == 0))
}
check "not one datagram reached the server meanwhile" no_datagrams
check "the rule dropped the client's attempts" rule_dropped
must "the nftables table is deleted" unblock
check "within 8 s the session moves to UDP" path_within 8 udp
prom_snap "$SOCK" p6
check "10 MB laptop1 -> corp over UDP arrive intact (sha256)" tcp_transfer udp-up "$NS_L1" 5005 10 up
prom_snap "$SOCK" p7
check "... carried by datagrams (> 5,000 in)" \
	prom_grew p6 p7 'ztvpn_udp_datagrams_total{direction="in"}' 5000
no_table() { [[ $(nsx "$NS_GW" nft list tables 2>&1) != *zttest* ]]; }
check "no zttest table is left in the gateway" no_table

check "the server is still running" bg_alive server
bg_stop alice2
bg_stop server
check "the server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
