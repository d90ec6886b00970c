#!/bin/bash
# Hostile input at the server while a good session is busy: garbage bytes,
# an HTTP request, an oversized frame and a stalled handshake each close
# only their own connection, with a logged rejection; the server keeps
# running and the good session keeps passing traffic.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init robustness
require_bins server client testpeer
zt_pki
topo_up 2

write_server_conf "$ZT_TMP/gw/server.conf"
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
# The attacker on laptop2 holds valid-looking configuration for the peer.
write_client_conf "$ZT_TMP/laptop2/client.conf" \
	"$ZT_PKI/devices/laptop-077" "$ZT_PKI/users/bob"
peer_conf=$ZT_TMP/laptop2/client.conf

must "server starts" start_server
slog=$(bg_log server)
must "good client (alice on laptop-042) is up" \
	start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
must "good client pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3

# Continuous traffic on the good session during everything below: a ping
# every 0.2 s, a TCP stream of 100 Mbit/s for 14 s (iperf3), and a 20 MB
# transfer checked with sha256.
start_bg ping "$NS_L1" ping -n -i 0.2 -w 120 "$CORP_ADDR"
start_bg iperf3-server "$NS_CORP" iperf3 -s -1 -B "$CORP_ADDR"
if wait_for 5 port_listening "$NS_CORP" 5201; then
	start_bg stream "$NS_L1" iperf3 -c "$CORP_ADDR" -t 14 -b 100M -J
else
	log "iperf3 server did not start"
fi
xfer_start during "$NS_L1" 5001 20 up || true

# Stalled connection: TCP connect, then nothing. Runs in the background
# while the others hit the server; the server must drop it after its
# handshake timeout (10 s).
timeouts_before=$(count "$(audit_reject_re timeout)" "$slog")
stall_t0=$(now_us)
start_bg stall "$NS_L2" "$TESTPEER_BIN" -c "$peer_conf" stall

# attack MODE: run the test peer in MODE; it must see the server close the
# connection (exit 0) and the server must log a protocol rejection.
attack() {
	local mode=$1 before
	before=$(count "$(audit_reject_re protocol)" "$slog")
	run_fg "$mode" 20 "$NS_L2" "$TESTPEER_BIN" -c "$peer_conf" "$mode"
	check "$mode: the server closes the connection (testpeer status $FG_STATUS)" \
		test "$FG_STATUS" = 0
	check "$mode: server logs event=reject reason=protocol" \
		wait_for 5 at_least $((before + 1)) "$(audit_reject_re protocol)" "$slog"
	check "$mode: server still running" bg_alive server
}

attack garbage
attack http
attack oversized

check "the transfer during the attacks arrives intact" xfer_finish during

if bg_wait stall 15; then
	secs=$((($(now_us) - stall_t0) / 1000000))
	check "stall: the server closes the stalled connection (after ${secs}s, testpeer status $BG_STATUS)" \
		test "$BG_STATUS" = 0
else
	not_ok "stall: the stalled connection is still open after 15 s"
	bg_stop stall
fi
check "stall: server logs event=reject reason=timeout" \
	wait_for 5 at_least $((timeouts_before + 1)) "$(audit_reject_re timeout)" "$slog"

if [[ -n ${ZT_PID[stream]:-} ]] && bg_wait stream 20; then
	mbits=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(int(d["end"]["sum_received"]["bits_per_second"] / 1e6))
' "$(bg_log stream)" 2>/dev/null) || mbits=0
	check "a 100 Mbit/s TCP stream ran through the attacks (iperf3 status $BG_STATUS, ${mbits} Mbit/s)" \
		test "$BG_STATUS" = 0 -a "$mbits" -ge 50
else
	not_ok "the iperf3 stream during the attacks did not finish"
fi
check "server still running after all attacks" bg_alive server
check "good client still running" bg_alive client1
check "good client was never disconnected" \
	test "$(count 'ztvpn-client: warning: disconnected' "$(bg_log client1)")" = 0
check "good session pings corp after the attacks" ping_ok "$NS_L1" "$CORP_ADDR" 3
check "good session moves 20 MB after the attacks" tcp_transfer after "$NS_L1" 5002 20 up

bg_stop ping INT
stats=$(grep -E 'packets transmitted' "$(bg_log ping)" || true)
log "background ping: ${stats:-no summary}"
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$stats")
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$stats")
check "background ping lost at most 10% during the attacks (${recv:-?}/${sent:-?})" \
	test "${sent:-0}" -gt 0 -a "$((${recv:-0} * 10))" -ge "$((${sent:-0} * 9))"

zt_finish
