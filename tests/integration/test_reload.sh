#!/bin/bash
# Reloading the policy acts on live sessions, without reconnecting them.
# alice on laptop-042 may first reach corp by ping and tcp/5001,5002; bob on
# laptop-077 may ping. Then, one reload after the other:
#   - narrowing (tcp/5001 removed) stops alice's open tcp/5001 connection at
#     once while her ping and tcp/5002 go on in the same session;
#   - widening (tcp/5003 added; through ztvpn-ctl when it is built) makes
#     tcp/5003 work in the same session;
#   - a syntax error, a bad port and a failing expectation in the new file
#     are each refused (audit result=failed with FILE:LINE) and the policy in
#     force keeps working;
#   - a new destination (198.51.100.11 tcp/5004) reaches the live client
#     as a route (ROUTES message) and works, without the hand-made route
#     to all of corp; taking it away again removes the route;
#   - a policy that no longer admits alice on laptop-042 (its owners
#     changed) closes her session within 1 s with reason=policy (her client
#     exits 1) and leaves bob's alone.
# Before all that: a policy whose expectation fails is refused by
# `ztvpn-server -n` and at start (exit 2, "test failed"), as are a syntax
# error and a bad port, each at the right line.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init reload
require_bins server client
zt_pki
topo_up 2

# write_policy FILE ALICE_ALLOW OWNERS [EXTRA]: the policy, one rule per
# line so that errors have known line numbers:
#   line 4: alice's rule (ALICE_ALLOW is the inside of its allow list)
#   line 2: laptop-042's owners; line 7: EXTRA (a tests list, an error...)
write_policy() {
	local f=$1 allow=$2 owners=$3 extra=${4:-}
	cat >"$f.new" <<EOF
# test_reload.sh policy
devices = ( { id = "laptop-042"; owners = [ $owners ]; } );
rules = (
  { name = "alice-corp"; users = [ "alice" ]; devices = [ "laptop-042" ]; allow = [ $allow ]; },
  { name = "bob-ping"; users = [ "bob" ]; devices = [ "laptop-077" ]; allow = [ "198.51.100.10 icmp" ]; }
);
$extra
EOF
	# Whole files only: a reload must never see half of one.
	mv -f "$f.new" "$f"
}
ALLOW_V1='"198.51.100.10 icmp tcp/5001,5002"'
ALLOW_V2='"198.51.100.10 icmp tcp/5002"'
ALLOW_V3='"198.51.100.10 icmp tcp/5002,5003"'
ALLOW_V4='"198.51.100.10 icmp tcp/5002,5003", "198.51.100.11 tcp/5004"'
ALLOW_BADPORT='"198.51.100.10 icmp tcp/5002,70000"'
SYNTAX_ERR='this is not libconfig'
FAILING_TEST='tests = ( { user = "alice"; device = "laptop-042"; to = "198.51.100.10 tcp/5009"; expect = "allow"; } );'

# --- refused before any start -------------------------------------------------
bad=$ZT_TMP/bad/server.conf
write_server_conf "$bad" 'policy = "policy.conf";'
# refused_at_start WHAT REGEX: `-n` and a real start both exit 2 printing
# REGEX (the policy file is $ZT_TMP/bad/policy.conf).
refused_at_start() {
	local what=$1 re=$2
	run_fg "n-$what" 10 "$NS_GW" "$SERVER_BIN" -n -c "$bad"
	check "$what: ztvpn-server -n exits 2 (status $FG_STATUS)" test "$FG_STATUS" = 2
	check "$what: ztvpn-server -n prints /$re/" has_line "$re" "$(bg_log "n-$what")"
	run_fg "start-$what" 10 "$NS_GW" "$SERVER_BIN" -c "$bad"
	check "$what: starting the server exits 2 (status $FG_STATUS)" test "$FG_STATUS" = 2
	check "$what: the server prints /$re/" has_line "$re" "$(bg_log "start-$what")"
	check "$what: the server never listened" fails has_line 'listening on' "$(bg_log "start-$what")"
}
write_policy "$ZT_TMP/bad/policy.conf" "$ALLOW_V1" '"alice"' "$FAILING_TEST"
refused_at_start failing-test 'policy\.conf:7: test failed'
write_policy "$ZT_TMP/bad/policy.conf" "$ALLOW_V1" '"alice"' "$SYNTAX_ERR"
refused_at_start syntax-error 'policy\.conf:7: '
write_policy "$ZT_TMP/bad/policy.conf" "$ALLOW_BADPORT" '"alice"'
refused_at_start bad-port 'policy\.conf:4: .*(port|70000)'
write_policy "$ZT_TMP/bad/policy.conf" "$ALLOW_V1" '"alice"' \
	'tests = ( { user = "alice"; device = "laptop-042"; to = "198.51.100.10 tcp/5002"; expect = "allow"; } );'
run_fg n-good 10 "$NS_GW" "$SERVER_BIN" -n -c "$bad"
check "the same policy with an expectation that holds passes -n (status $FG_STATUS)" \
	test "$FG_STATUS" = 0

# --- the gateway -------------------------------------------------------------------
conf=$ZT_TMP/gw/server.conf
pol=$ZT_TMP/gw/policy.conf
write_server_conf "$conf" 'policy = "policy.conf";
control_socket = "ctl.sock";'
write_policy "$pol" "$ALLOW_V1" '"alice"'
must "corp serves tcp 5002 5003" tcp_serve corp "$NS_CORP" "$CORP_ADDR" 5002 5003
must "server starts" start_server
slog=$(bg_log server)
admit_re='ztvpn-server: info: audit event=admit '
start_alice_and_bob
# Route all of corp into the tunnel, so that what stops a packet is the
# policy and never a missing route.
nsx "$NS_L1" ip route replace 198.51.100.0/24 dev ztvpn0

# same_session: alice is still in her first session: one admission and one
# "tunnel up", no end record, the client running.
same_session() {
	[[ $(count "$(audit_admit_re alice laptop-042 100.64.0.2 "$L1_ADDR")" "$slog") == 1 ]] &&
		[[ $(count 'tunnel up: ' "$(bg_log alice)") == 1 ]] &&
		! has_line "$(audit_end_re alice laptop-042 '[a-z-]+')" "$slog" &&
		bg_alive alice
}

# v3_in_force: what version 3 (ALLOW_V3) allows and refuses.
v3_in_force() {
	ping_ok "$NS_L1" "$CORP_ADDR" 2 && reaches "$NS_L1" "$CORP_ADDR" 5002 &&
		reaches "$NS_L1" "$CORP_ADDR" 5003 && blocked "$NS_L1" "$CORP_ADDR" 5001
}

check "alice pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3
check "alice reaches tcp/5002" reaches "$NS_L1" "$CORP_ADDR" 5002
check "alice does not reach tcp/5003 (yet)" blocked "$NS_L1" "$CORP_ADDR" 5003
must "alice opens a long-lived tcp/5001 connection, a line every 0.2 s" \
	tcp_flow_start f5001 "$NS_L1" "$CORP_ADDR" 5001
check "its lines reach corp" wait_for 5 ticks_grow f5001 5

# --- narrowing -------------------------------------------------------------------------
write_policy "$pol" "$ALLOW_V2" '"alice"'
must "reload (SIGHUP) without tcp/5001" server_reload
check "the reload succeeds: result=ok trigger=signal" reload_says 'result=ok trigger=signal'
sleep 0.5
t1=$(tcp_ticks f5001)
sleep 2.5
t2=$(tcp_ticks f5001)
log "tcp/5001 lines at corp: $t1 half a second after the reload, $t2 2.5 s later"
check "the open tcp/5001 connection is stopped: no line arrives after the reload ($t1 -> $t2)" \
	test "$t2" = "$t1"
check "the ticker is still trying (it was stopped, not reset)" bg_alive f5001-laptop
check "alice still pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3
check "alice still reaches tcp/5002" reaches "$NS_L1" "$CORP_ADDR" 5002
check "a new tcp/5001 connection times out" blocked "$NS_L1" "$CORP_ADDR" 5001
check "the server logs alice's policy drops" \
	wait_for 3 has_line "$(drop_log_re alice laptop-042 policy)" "$slog"
check "alice is still in the same session (no reconnect, no end record)" same_session
bg_stop f5001-laptop
bg_stop f5001-corp

# --- widening ----------------------------------------------------------------------------
write_policy "$pol" "$ALLOW_V3" '"alice"'
if [[ -x $CTL_BIN ]]; then
	must "reload through ztvpn-ctl with tcp/5003 added" ctl_reload "$ZT_TMP/gw/ctl.sock"
	check "ztvpn-ctl reload exits 0 (status $CTL_STATUS)" test "$CTL_STATUS" = 0
	check "the reload succeeds: result=ok trigger=control" reload_says 'result=ok trigger=control'
else
	log "no $CTL_BIN: reloading with SIGHUP instead"
	must "reload (SIGHUP) with tcp/5003 added" server_reload
	check "the reload succeeds: result=ok" reload_says 'result=ok trigger=signal'
fi
check "alice now reaches tcp/5003" reaches "$NS_L1" "$CORP_ADDR" 5003
check "version 3 is in force: ping, tcp/5002 and tcp/5003 work, tcp/5001 does not" v3_in_force
check "alice is still in the same session" same_session

# --- refused reloads -------------------------------------------------------------------------
# refused_reload WHAT REGEX: the reload of the current file is refused with
# a detail matching REGEX, and version 3 stays in force.
refused_reload() {
	local what=$1 re=$2
	must "$what: the reload is logged" server_reload
	check "$what: result=failed trigger=signal, detail /$re/" \
		reload_says "result=failed trigger=signal detail=\"[^\"]*$re"
	check "$what: version 3 is still in force" v3_in_force
	check "$what: alice is still in the same session" same_session
}
write_policy "$pol" "$ALLOW_V3" '"alice"' "$SYNTAX_ERR"
refused_reload syntax-error 'policy\.conf:7: '
write_policy "$pol" "$ALLOW_BADPORT" '"alice"'
refused_reload bad-port 'policy\.conf:4: .*(port|70000)'
write_policy "$pol" "$ALLOW_V3" '"alice"' "$FAILING_TEST"
refused_reload failing-test 'policy\.conf:7: test failed'
check "bob's session was never touched" fails has_line "$(audit_end_re bob laptop-077 '[a-z-]+')" "$slog"

# --- routes follow the policy of a live session --------------------------------------------
ip -n "$NS_CORP" addr add 198.51.100.11/24 dev eth0
must "corp serves tcp 5004 on 198.51.100.11" tcp_serve corp11 "$NS_CORP" 198.51.100.11 5004
nsx "$NS_L1" ip route del 198.51.100.0/24 dev ztvpn0
check "before: alice has no route to 198.51.100.11" fails route_dev "$NS_L1" 198.51.100.11 ztvpn0
write_policy "$pol" "$ALLOW_V4" '"alice"'
must "reload (SIGHUP) with 198.51.100.11 tcp/5004 added" server_reload
check "the reload succeeds (result=ok)" reload_says 'result=ok trigger=signal'
check "alice's client applies the new routes: 1 added" \
	wait_for 3 has_line 'routes updated by the server: 1 added, 0 removed' "$(bg_log alice)"
check "alice's 198.51.100.11 now goes via ztvpn0" route_dev "$NS_L1" 198.51.100.11/32 ztvpn0
check "alice reaches 198.51.100.11 tcp/5004" reaches "$NS_L1" 198.51.100.11 5004
check "alice still reaches 198.51.100.10 tcp/5002" reaches "$NS_L1" "$CORP_ADDR" 5002
check "alice is still in the same session" same_session
write_policy "$pol" "$ALLOW_V3" '"alice"'
must "reload (SIGHUP) without 198.51.100.11" server_reload
check "alice's client applies the new routes: 1 removed" \
	wait_for 3 has_line 'routes updated by the server: 0 added, 1 removed' "$(bg_log alice)"
check "alice's route to 198.51.100.11 is gone" fails route_dev "$NS_L1" 198.51.100.11/32 ztvpn0
check "version 3 is in force again" v3_in_force
check "alice is still in the same session" same_session
check "bob's routes did not change (his policy did not)" \
	fails has_line 'routes updated by the server' "$(bg_log bob)"

# --- alice no longer admitted ----------------------------------------------------------------
write_policy "$pol" "$ALLOW_V3" '"bob"'
must "reload (SIGHUP): laptop-042's owners are now [ bob ]" server_reload
check "the reload succeeds (result=ok)" reload_says 'result=ok trigger=signal'
if wait_for_ms 5000 has_line "$(audit_end_re alice laptop-042 policy)" "$slog"; then
	ms=$((($(now_us) - RELOAD_T0) / 1000))
	log "alice's session end (reason policy) logged ${ms} ms after the signal"
	check "alice's session ends with reason=policy within 1 s (${ms} ms)" test "$ms" -le 1000
else
	not_ok "alice's session did not end with reason=policy within 5 s"
fi
check "alice's client exits (3 s)" bg_wait alice 3
check "alice's client exit status is 1 (got '$BG_STATUS')" test "$BG_STATUS" = 1
check "alice's client says 'session closed by server (policy): ...'" \
	has_line 'ztvpn-client: error: session closed by server \(policy\): ' "$(bg_log alice)"
check "bob's client is still running" bg_alive bob
check "bob still pings corp" ping_ok "$NS_L2" "$CORP_ADDR" 3
check "bob's session did not end" fails has_line "$(audit_end_re bob laptop-077 '[a-z-]+')" "$slog"
check "two admissions in all" test "$(count "$admit_re" "$slog")" = 2

bg_stop bob
check "bob's client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
bg_stop server
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
