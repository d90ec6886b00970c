#!/bin/bash
# Data-plane workers (workers = 2) with the UDP data channel:
#   1. the server starts two workers; alice (laptop1) and bob (laptop2) get
#      sessions owned by different workers, both on the UDP path;
#   2. 20 MB each way for both at once arrive intact, and both sessions
#      counted their datagrams (each worker received its own session's:
#      the kernel steered them by receiver index);
#   3. the policy still holds on every packet: bob may not reach corp's
#      port 22, alice may;
#   4. a reload by ztvpn-ctl and a revocation reach the workers' sessions:
#      bob's device revoked ends his session within 1 s while alice's ping
#      goes on untouched.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init workers
require_bins server client "$CTL_BIN"
zt_pki
topo_up 2

SOCK=$ZT_TMP/gw-run/server.sock
conf=$ZT_TMP/gw/server.conf
mkdir -p "$ZT_TMP/gw"
cat >"$ZT_TMP/gw/policy.conf" <<'EOF'
rules = (
  { name = "all"; users = [ "alice" ]; devices = [ "*" ];
    allow = [ "198.51.100.0/24" ]; },
  { name = "no-ssh"; users = [ "bob" ]; devices = [ "*" ];
    allow = [ "198.51.100.0/24 tcp/5001-5999 icmp" ]; }
);
EOF
must "server.conf with workers = 2, udp_listen and a policy" \
	server_conf_udp "$conf" "$SOCK" 'workers = 2;
policy = "policy.conf";'
must "the server starts" start_server
check "it starts two data-plane workers" \
	has_line "info: 2 data-plane workers" "$(bg_log server)"
check "... and still sandboxes its network process" \
	wait_for 5 has_line "seccomp on" "$(bg_log server)"
start_alice_and_bob

on_udp() { session_field_is "$SOCK" path udp "$1"; }
check "alice's session moves to the UDP path" wait_for 10 on_udp alice
check "bob's session moves to the UDP path" wait_for 10 on_udp bob
wa=$(session_json_field "$SOCK" worker alice) || wa=''
wb=$(session_json_field "$SOCK" worker bob) || wb=''
check "their sessions are owned by different workers (alice $wa, bob $wb)" \
	test -n "$wa" -a -n "$wb" -a "$wa" != "$wb"

# Both at once, both ways.
A=$(client_addr alice)
B=$(client_addr bob)
must "alice: transfers start" xfer_start a-up "$NS_L1" 5001 20 up
must "alice: transfers start (down)" xfer_start a-down "$NS_L1" 5002 20 down
must "bob: transfers start" xfer_start b-up "$NS_L2" 5003 20 up
must "bob: transfers start (down)" xfer_start b-down "$NS_L2" 5004 20 down
for t in a-up a-down b-up b-down; do
	check "$t: 20 MB arrive intact (sha256)" xfer_finish "$t" 90
done
for u in alice bob; do
	check "$u's session received over 10,000 datagrams" \
		session_field_ge "$SOCK" udp_datagrams_in 10001 "$u"
	check "$u's session sent over 10,000 datagrams" \
		session_field_ge "$SOCK" udp_datagrams_out 10001 "$u"
done
log "tunnel addresses: alice $A, bob $B"

# The policy, on a worker's packet path.
must "corp listens on port 22" tcp_serve ssh "$NS_CORP" "$CORP_ADDR" 22
check "alice reaches corp port 22" reaches "$NS_L1" "$CORP_ADDR" 22
check "bob does not (policy)" blocked "$NS_L2" "$CORP_ADDR" 22
check "bob's policy drops are counted on his session" \
	wait_for 5 session_field_ge "$SOCK" drops_total 1 bob

# A reload by ctl, then a revocation by SIGHUP.
run_fg ctl-reload 10 - "$CTL_BIN" -s "$SOCK" reload
check "ztvpn-ctl reload succeeds (status $FG_STATUS)" test "$FG_STATUS" = 0
start_bg ping "$NS_L1" ping -n -i 0.05 -w 30 "$CORP_ADDR"
replies() { count ' bytes from ' "$(bg_log ping)"; }
replies_grow() { (($(replies) > $1)); }
check "alice's ping every 50 ms is answered" wait_for 5 replies_grow 10
must "laptop-077 revoked and device-ca.crl regenerated" \
	quiet "$MKPKI" revoke "$ZT_PKI" device laptop-077
must "SIGHUP: the reload is logged" server_reload server
end_re="$(audit_end_re bob laptop-077 revoked)"
bob_ended_fast() {
	local ms
	wait_for_ms 5000 has_line "$end_re" "$(bg_log server)" || return 1
	ms=$((($(now_us) - RELOAD_T0) / 1000))
	log "bob's session end was logged ${ms} ms after the SIGHUP"
	((ms <= 1000))
}
check "bob's session ends within 1 s: reason=revoked" bob_ended_fast
check "bob's client exits" bg_wait bob 3
before=$(replies)
sleep 1
check "alice's ping goes on (more replies after bob's end: $before -> $(replies))" \
	replies_grow "$before"
check "alice's session is still on UDP" on_udp alice
bg_stop ping
check "the server is still running" bg_alive server
bg_stop server
check "the server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
