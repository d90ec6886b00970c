#!/bin/bash
# Rekeying and re-authentication lose nothing (issue 4). The gateway moves
# to a new key epoch every second (rekey_interval = 1) and makes each
# client re-authenticate every 10 s (reauth_interval = 10). During ~25 s
# of traffic (24 MB each way at 1 MB/s) and 1,000 pings 20 ms apart:
#   - the pings lose nothing (0% loss) and both transfers arrive intact;
#   - the server's session went through >= 2 re-authentications and, across
#     the key sets they start (each at epoch 0), >= 15 epochs each way
#     while the pings ran, with the same session id and tunnel address (on
#     both sides);
#   - ztvpn_rekeys_total and ztvpn_reauths_total grew, and no datagram was
#     dropped as a failed authentication, a replay or of an unknown epoch.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init udp_rekey
require_bins server client "$CTL_BIN"
zt_pki
topo_up 1

conf=$ZT_TMP/gw/server.conf
must "server.conf with rekey_interval = 1 and reauth_interval = 10" \
	udp_alice_confs 'rekey_interval = 1;
reauth_interval = 10;'
run_fg check-conf 10 "$NS_GW" "$SERVER_BIN" -n -c "$conf"
check "ztvpn-server -n accepts it (status $FG_STATUS)" test "$FG_STATUS" = 0

must "server starts" start_server
slog=$(bg_log server)
must "alice on laptop-042 (laptop1) brings the tunnel up" \
	start_client alice "$NS_L1" "$ZT_TMP/laptop1/client.conf"
must "the session moves to the UDP path (10 s)" wait_for 10 session_field_is "$SOCK" path udp
id=$(session_json_field "$SOCK" id) || id=
addr=$(session_json_field "$SOCK" addr4) || addr=
log "session id '$id', address '$addr'"
must "the session has an id and an address" test -n "$id" -a -n "$addr"
prom_snap "$SOCK" p0

must "24 MB laptop1 -> corp start at 1 MB/s" xfer_start_paced rk-up "$NS_L1" 5001 24 up 1000
must "24 MB corp -> laptop1 start at 1 MB/s" xfer_start_paced rk-down "$NS_L1" 5002 24 down 1000
start_bg pings "$NS_L1" ping -n -q -i 0.02 -c 1000 -W 2 "$CORP_ADDR"
# While the pings run, sample the server's session about every 0.5 s and
# add up how far its epochs moved, across key sets: a re-authentication
# starts a new key set at epoch 0 (common/PROTOCOL.md), so the current
# epoch alone never gets far with reauth_interval = 10.
ADV_TX=0 ADV_RX=0 SAMPLES=0
last_ra='' last_tx=0 last_rx=0
for ((i = 0; i < 80; i++)); do
	bg_alive pings || break
	ra=$(session_json_field "$SOCK" reauths) || ra=''
	tx=$(session_json_field "$SOCK" epoch_tx) || tx=''
	rx=$(session_json_field "$SOCK" epoch_rx) || rx=''
	if [[ $ra =~ ^[0-9]+$ && $tx =~ ^[0-9]+$ && $rx =~ ^[0-9]+$ ]]; then
		SAMPLES=$((SAMPLES + 1))
		if [[ -n $last_ra && $ra != "$last_ra" ]]; then
			ADV_TX=$((ADV_TX + tx)) ADV_RX=$((ADV_RX + rx))
		else
			if ((tx > last_tx)); then ADV_TX=$((ADV_TX + tx - last_tx)); fi
			if ((rx > last_rx)); then ADV_RX=$((ADV_RX + rx - last_rx)); fi
		fi
		last_ra=$ra last_tx=$tx last_rx=$rx
	fi
	sleep 0.5
done
log "$SAMPLES samples: epochs advanced tx $ADV_TX, rx $ADV_RX (reauths now ${last_ra:-?})"
if bg_wait pings 40; then
	summary=$(grep -E 'packets transmitted' "$(bg_log pings)" || true)
	log "ping: $summary"
	check "1,000 pings 20 ms apart: status 0 (got $BG_STATUS)" test "$BG_STATUS" = 0
	check "... every one answered (0% loss)" \
		grep -qE '^1000 packets transmitted, 1000 received, 0% packet loss' "$(bg_log pings)"
else
	not_ok "the pings did not finish within 40 s"
fi
check "24 MB laptop1 -> corp arrive intact (sha256)" xfer_finish rk-up 30
check "24 MB corp -> laptop1 arrive intact (sha256)" xfer_finish rk-down 30

# ~27 s since the admission: two re-authentications are due.
check "the session re-authenticated at least twice" wait_for 15 session_field_ge "$SOCK" reauths 2
for f in epoch_tx epoch_rx reauths; do
	log "server session $f: $(session_json_field "$SOCK" "$f" || echo '?')"
done
check "the server's sending epoch moved >= 15 times during the pings ($ADV_TX)" \
	test "$ADV_TX" -ge 15
check "the server's receiving epoch moved >= 15 times during the pings ($ADV_RX)" \
	test "$ADV_RX" -ge 15
check "the session id is still $id" session_field_is "$SOCK" id "$id"
check "the tunnel address is still $addr" session_field_is "$SOCK" addr4 "$addr"
check "the session is on the UDP path" session_field_is "$SOCK" path udp
check "one session on the server" test "$(session_count "$SOCK")" = 1
check "the client reports the same session id" client_field_is "$CSOCK" session_id "$id"
check "... the same address" client_field_is "$CSOCK" addr4 "$addr"
check "... reauths >= 2" client_field_ge "$CSOCK" reauths 2
prom_snap "$SOCK" p1
check "ztvpn_rekeys_total grew by >= 20" prom_grew p0 p1 ztvpn_rekeys_total 20
check "ztvpn_reauths_total grew by >= 2" prom_grew p0 p1 ztvpn_reauths_total 2
# zero_drops REASON: the server counted no datagram dropped for REASON.
zero_drops() {
	local v
	v=$(prom_value p1 "ztvpn_udp_dropped_total{reason=\"$1\"}")
	[[ $v == 0 ]] && return 0
	log "ztvpn_udp_dropped_total{reason=\"$1\"} is $v"
	return 1
}
for r in auth replay epoch; do
	check "no datagram dropped with reason $r" zero_drops "$r"
done
check "no end of session was audited" fails has_line 'audit event=end ' "$slog"
check "alice's client is still running" bg_alive alice

bg_stop alice
check "alice's client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
bg_stop server
check "the server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
