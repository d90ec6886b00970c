#!/bin/bash
# The UDP data channel (issue 4). The gateway has udp_listen on the TLS
# port; alice's client keeps the default (udp = true).
#   1. her session moves to the UDP path (server sessions --json "path",
#      "udp_endpoint"; the client's status), a ping and 20 MB each way
#      arrive intact, and the datagram counters show they went over UDP;
#   2. 200 datagrams captured on the gateway's bridge and replayed from
#      laptop1 (another source port) get no answer, are each counted once
#      as a replay (or old epoch) drop, do not move the session's endpoint
#      and put nothing on the gateway's TUN;
#   3. 2,000 random datagrams from laptop2 and 2,000 from laptop1 likewise;
#      well-formed headers with the session's real index are counted as
#      failed authentications;
#   4. a second gateway with data_cipher = "chacha20-poly1305" carries the
#      same transfers;
#   5. revoking alice's device closes her UDP session within 1 s of the
#      SIGHUP while a ping every 50 ms runs, and her client exits 1.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init udp
require_bins server client "$CTL_BIN" "$UDPTOOL_BIN"
zt_pki
topo_up 2

SOCK=$ZT_TMP/gw-run/server.sock
CSOCK=$ZT_TMP/laptop1-run/client.sock
conf=$ZT_TMP/gw/server.conf
must "server.conf with udp_listen = \"$UDP_ENDPOINT\" and tls.crl" server_conf_udp "$conf" "$SOCK"
write_client_conf "$ZT_TMP/laptop1/client.conf" "$ZT_PKI/devices/laptop-042" \
	"$ZT_PKI/users/alice" gw.corp.example "control_socket = \"$CSOCK\";"
run_fg check-conf 10 "$NS_GW" "$SERVER_BIN" -n -c "$conf"
check "ztvpn-server -n accepts it (status $FG_STATUS)" test "$FG_STATUS" = 0

# up_to_udp SOCK CSOCK: both ends of the only session are on the UDP path,
# the server's with laptop1 as the UDP endpoint.
up_to_udp() {
	must "the server's session moves to the UDP path (10 s)" \
		wait_for 10 session_field_is "$1" path udp
	local ep
	ep=$(session_json_field "$1" udp_endpoint) || true
	check "its udp_endpoint is laptop1's address (got '$ep')" \
		test "${ep%:*}" = "$L1_ADDR"
	check "the client's status says path udp" wait_for 5 client_field_is "$2" path udp
}

# transfers TAG: 20 MB each way at once, both intact; the server's UDP
# datagram counters grew by more than the packets that needs.
transfers() {
	local tag=$1
	prom_snap "$SOCK" "$tag-before"
	must "$tag: transfers start" xfer_start "$tag-up" "$NS_L1" 5001 20 up
	must "$tag: transfers start (down)" xfer_start "$tag-down" "$NS_L1" 5002 20 down
	check "$tag: 20 MB laptop1 -> corp arrive intact (sha256)" xfer_finish "$tag-up" 60
	check "$tag: 20 MB corp -> laptop1 arrive intact (sha256)" xfer_finish "$tag-down" 60
	prom_snap "$SOCK" "$tag-after"
	check "$tag: ztvpn_udp_datagrams_total{direction=\"in\"} grew by > 10,000" \
		prom_grew "$tag-before" "$tag-after" 'ztvpn_udp_datagrams_total{direction="in"}' 10001
	check "$tag: ztvpn_udp_datagrams_total{direction=\"out\"} grew by > 10,000" \
		prom_grew "$tag-before" "$tag-after" 'ztvpn_udp_datagrams_total{direction="out"}' 10001
	check "$tag: the session is still on the UDP path" session_field_is "$SOCK" path udp
}

must "server starts" start_server
slog=$(bg_log server)
must "alice on laptop-042 (laptop1) brings the tunnel up" \
	start_client alice "$NS_L1" "$ZT_TMP/laptop1/client.conf"
up_to_udp "$SOCK" "$CSOCK"
check "laptop1 pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3

# --- 1. traffic over UDP ------------------------------------------------------------
transfers aes
check "the client counts > 10,000 datagrams in" client_field_ge "$CSOCK" udp_datagrams_in 10001
check "the client counts > 10,000 datagrams out" client_field_ge "$CSOCK" udp_datagrams_out 10001

# --- 2. capture and replay ------------------------------------------------------------
# snap NAME: the server's metrics, its session's UDP endpoint, the packets
# it wrote into the gateway's TUN (the TUN's rx), and the datagrams the
# gateway's kernel dropped for a full socket buffer (never seen by the
# server, so never counted by it; logged, and allowed for in the sums).
declare -A EP=() TUNRX=() RCVBUF=()
snap() {
	prom_snap "$SOCK" "$1"
	EP[$1]=$(session_json_field "$SOCK" udp_endpoint) || EP[$1]=none
	TUNRX[$1]=$(if_stat "$NS_GW" ztvpn0 rx_packets)
	RCVBUF[$1]=$(udp_rcvbuf_errors "$NS_GW")
}
# dropped A B N [REASON...]: from snapshot A to B the server counted
# exactly N datagrams (less any the kernel dropped first) under the REASONs
# of ztvpn_udp_dropped_total (all of them if none is given).
dropped() {
	local a=$1 b=$2 n=$3 r d sum=0 lost breakdown=''
	shift 3
	lost=$((RCVBUF[$b] - RCVBUF[$a]))
	for r in malformed unknown-index replay auth epoch; do
		d=$(prom_delta "$a" "$b" "ztvpn_udp_dropped_total{reason=\"$r\"}") || return 1
		breakdown+=" $r=+$d"
		if (($# == 0)) || [[ " $* " == *" $r "* ]]; then
			sum=$((sum + d))
		fi
	done
	log "drops$breakdown; kernel socket-buffer drops +$lost"
	((sum + lost == n))
}
same_endpoint() {
	[[ ${EP[$1]} == "${EP[$2]}" && ${EP[$2]} != none ]] && return 0
	log "udp_endpoint was '${EP[$1]}', is '${EP[$2]}'"
	return 1
}
same_tunrx() {
	[[ ${TUNRX[$1]} == "${TUNRX[$2]}" && ${TUNRX[$2]} != none ]] && return 0
	log "the gateway's ztvpn0 rx_packets went from ${TUNRX[$1]} to ${TUNRX[$2]}"
	return 1
}
# no_replies NAME SENT: the udptool run NAME says "sent SENT replies 0".
no_replies() {
	local out
	out=$(cat "$(bg_log "$1")")
	log "$1: $out"
	[[ $FG_STATUS == 0 && $out == "sent $2 replies 0" ]]
}

CAP=$ZT_TMP/captured.bin
start_bg capture "$NS_GW" "$UDPTOOL_BIN" capture br0 8443 200 "$CAP" 15
must "udptool captures on the gateway's br0" \
	wait_for 5 has_line '^capturing on br0' "$(bg_log capture)"
must "a 10 MB transfer starts" xfer_start cap-up "$NS_L1" 5003 10 up
captured() {
	bg_wait capture 20 || return 1
	log "udptool capture: status $BG_STATUS, $(tail -n1 "$(bg_log capture)")"
	[[ $BG_STATUS == 0 ]]
}
check "200 datagrams to port 8443 captured during it" captured
check "the transfer arrives intact (sha256)" xfer_finish cap-up 60
# Quiet from here on: only keepalives, which never reach the TUN.
sleep 1
snap before-replay
run_fg replay 30 "$NS_L1" "$UDPTOOL_BIN" replay "$CAP" "$UDP_ENDPOINT" 1000
check "replaying them from laptop1: sent 200 replies 0" no_replies replay 200
snap after-replay
check "each replayed datagram is counted once, as replay or epoch" \
	dropped before-replay after-replay 200 replay epoch
check "... and nothing else was dropped meanwhile" dropped before-replay after-replay 200
check "the session's udp_endpoint did not move (${EP[after-replay]})" \
	same_endpoint before-replay after-replay
check "nothing reached the gateway's TUN" same_tunrx before-replay after-replay

# --- 3. random datagrams and forged headers ----------------------------------------------
run_fg spray2 60 "$NS_L2" "$UDPTOOL_BIN" spray "$UDP_ENDPOINT" 2000 4242 1000
check "2,000 random datagrams from laptop2: no reply" no_replies spray2 2000
run_fg spray1 60 "$NS_L1" "$UDPTOOL_BIN" spray "$UDP_ENDPOINT" 2000 1717 1000
check "2,000 random datagrams from laptop1: no reply" no_replies spray1 2000
snap after-spray
check "all 4,000 are counted as drops" dropped after-replay after-spray 4000
check "the session's udp_endpoint did not move" same_endpoint after-replay after-spray
check "nothing reached the gateway's TUN" same_tunrx after-replay after-spray
check "laptop1 still pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3

# The receiver index and epoch of alice's session, from what her client sent
# (bytes 4-7 and 1 of a datagram; a record starts with its 4-byte length).
index=$(od -An -tu4 --endian=big -j8 -N4 "$CAP" 2>/dev/null | tr -d ' ') || true
epoch=$(session_json_field "$SOCK" epoch_rx) ||
	epoch=$(od -An -tu1 -j5 -N1 "$CAP" 2>/dev/null | tr -d ' ') || true
log "alice's session: receiver index $index, receive epoch $epoch"
must "the capture holds a receiver index and an epoch" test -n "$index" -a -n "$epoch"
snap before-forged
run_fg sendhdr 30 "$NS_L1" "$UDPTOOL_BIN" sendhdr "$UDP_ENDPOINT" "$index" 100 $((epoch % 256)) 1000
check "100 forged datagrams for index $index: no reply" no_replies sendhdr 100
snap after-forged
check "each is counted as a failed authentication" dropped before-forged after-forged 100 auth
check "... and as nothing else" dropped before-forged after-forged 100
check "the session's udp_endpoint did not move" same_endpoint before-forged after-forged
check "nothing reached the gateway's TUN" same_tunrx before-forged after-forged
check "laptop1 still pings corp over UDP" ping_ok "$NS_L1" "$CORP_ADDR" 3
check "... on the UDP path" session_field_is "$SOCK" path udp

bg_stop alice
check "alice's client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
bg_stop server
check "the server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

# --- 4. ChaCha20-Poly1305 ----------------------------------------------------------------
SOCK=$ZT_TMP/gw2-run/server.sock
CSOCK=$ZT_TMP/laptop1-run2/client.sock
conf=$ZT_TMP/gw2/server.conf
must "server.conf with data_cipher = \"chacha20-poly1305\"" \
	server_conf_udp "$conf" "$SOCK" 'data_cipher = "chacha20-poly1305";'
write_client_conf "$ZT_TMP/laptop1/client2.conf" "$ZT_PKI/devices/laptop-042" \
	"$ZT_PKI/users/alice" gw.corp.example "control_socket = \"$CSOCK\";"
must "the second server starts" start_server server2 "$conf"
slog=$(bg_log server2)
must "alice brings the tunnel up again" start_client alice2 "$NS_L1" "$ZT_TMP/laptop1/client2.conf"
up_to_udp "$SOCK" "$CSOCK"
transfers chacha

# --- 5. revocation of a UDP session --------------------------------------------------------
start_bg ping "$NS_L1" ping -n -i 0.05 -w 30 "$CORP_ADDR"
replies() { count ' bytes from ' "$(bg_log ping)"; }
replies_grow() { (($(replies) > $1)); }
check "a ping every 50 ms is answered" wait_for 5 replies_grow 10
check "... over the UDP path" session_field_is "$SOCK" path udp
must "laptop-042 revoked and device-ca.crl regenerated" \
	quiet "$MKPKI" revoke "$ZT_PKI" device laptop-042
must "SIGHUP: the reload is logged" server_reload server2
check "the reload succeeds (result=ok)" reload_says 'result=ok trigger=signal'
end_re="$(audit_end_re alice laptop-042 revoked)detail=\"device certificate revoked\""
# ended_within_1s: the end record appears, at most 1 s after the SIGHUP.
ended_within_1s() {
	local ms
	wait_for_ms 5000 has_line "$end_re" "$slog" || {
		log "no end record /$end_re/ within 5 s"
		return 1
	}
	ms=$((($(now_us) - RELOAD_T0) / 1000))
	log "the session end was logged ${ms} ms after the SIGHUP"
	((ms <= 1000))
}
check "alice's UDP session ends within 1 s: reason=revoked, device certificate revoked" \
	ended_within_1s
if bg_wait alice2 3; then
	ok "alice's client exits ($((($(now_us) - RELOAD_T0) / 1000)) ms after the SIGHUP)"
	check "... with status 1 (got '$BG_STATUS')" test "$BG_STATUS" = 1
else
	not_ok "alice's client did not exit within 3 s of the end of her session"
fi
bg_stop ping
check "the pings had been answered until then" at_least 10 ' bytes from ' "$(bg_log ping)"
no_sessions() { [[ $(session_count "$SOCK") == 0 ]]; }
check "no session is left on the server" wait_for 3 no_sessions

check "the server is still running" bg_alive server2
bg_stop server2
check "the server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
