#!/bin/bash
# Revocation acts on live sessions. The gateway checks CRLs (tls.crl) and
# has a policy; alice on laptop-042, bob on laptop-077 and carol on
# laptop-099 are connected at the same time, alice and bob pinging corp
# continuously. Then, with the CA databases of mkpki.sh:
#   1. a reload with nothing revoked changes nothing;
#   2. bob's DEVICE certificate is revoked (`openssl ca -revoke`, a new CRL
#      with `openssl ca -gencrl`, SIGHUP): the server ends his session
#      within 1 s with reason=revoked, his client says why and exits 1,
#      while alice's pings keep being answered in the same session;
#   3. alice's USER certificate is revoked likewise: her session ends within
#      1 s, carol's goes on;
#   4. both revoked identities are turned away when they try again;
#   5. carol's user certificate was issued to expire 15 s after it was
#      made: her session ends at its notAfter (within 1 s), reason=revoked,
#      "user certificate expired".
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init revocation
require_bins server client
zt_pki
topo_up 2
topo_laptop3

conf=$ZT_TMP/gw/server.conf
must "server.conf with tls.crl and a policy" \
	write_server_conf_crl "$conf" 'policy = "policy.conf";'
cat >"$ZT_TMP/gw/policy.conf" <<'EOF'
# test_revocation.sh: everyone may ping corp and reach tcp/5000-5100
rules = (
  { name = "corp"; users = [ "*" ]; devices = [ "*" ]; allow = [ "198.51.100.10 icmp tcp/5000-5100" ]; }
);
EOF
run_fg check-conf 10 "$NS_GW" "$SERVER_BIN" -n -c "$conf"
check "ztvpn-server -n accepts it (status $FG_STATUS)" test "$FG_STATUS" = 0

must "server starts" start_server
slog=$(bg_log server)
admit_re='ztvpn-server: info: audit event=admit '

start_alice_and_bob

# carol: a device and a user certificate of her own, the user one expiring
# soon. notAfter has a resolution of one second.
CAROL_EXP=$((EPOCHSECONDS + 15))
must "a device certificate for laptop-099 (managed)" \
	quiet "$MKPKI" issue "$ZT_PKI" device laptop-099 managed
must "a user certificate for carol expiring at $(date -u -d "@$CAROL_EXP" +%T) UTC" \
	quiet "$MKPKI" issue "$ZT_PKI" user carol engineering "$(date -u -d "@$CAROL_EXP" +%Y%m%d%H%M%SZ)"
write_client_conf "$ZT_TMP/laptop3/client.conf" "$ZT_PKI/devices/laptop-099" "$ZT_PKI/users/carol"
must "carol on laptop-099 (laptop3) is admitted" start_client carol "$NS_L3" "$ZT_TMP/laptop3/client.conf"
check "carol pings corp" ping_ok "$NS_L3" "$CORP_ADDR" 2

start_bg alice-ping "$NS_L1" ping -n -i 0.2 -w 60 "$CORP_ADDR"
start_bg bob-ping "$NS_L2" ping -n -i 0.2 -w 60 "$CORP_ADDR"
replies() { count ' bytes from ' "$(bg_log "$1")"; }
replies_grow() { (($(replies "$1") > $2)); }
# no_gap NAME: every echo request of ping NAME up to the last answered one
# was answered (the answered icmp_seq values are exactly 1..N, N > 0).
no_gap() {
	local n last
	n=$(replies "$1")
	last=$(sed -n 's/.* bytes from .*icmp_seq=\([0-9]*\) .*/\1/p' "$(bg_log "$1")" | sort -n | tail -n1)
	log "$1: $n answers, last icmp_seq ${last:-none}"
	((n > 0)) && [[ $last == "$n" ]]
}
check "alice's pings are answered" wait_for 5 replies_grow alice-ping 2
check "bob's pings are answered" wait_for 5 replies_grow bob-ping 2

# ended_within_1s USER DEVICE REASON DETAIL: the server's end record for
# the pair with that reason and detail appears within 1 s of RELOAD_T0.
ended_within_1s() {
	local re ms
	re="$(audit_end_re "$1" "$2" "$3")detail=\"$4\""
	wait_for_ms 5000 has_line "$re" "$slog" || {
		log "no end record /$re/ within 5 s"
		return 1
	}
	ms=$((($(now_us) - RELOAD_T0) / 1000))
	log "$1@$2: session end (reason $3) logged ${ms} ms after the reload was triggered"
	((ms <= 1000))
}

# --- 1. a reload that revokes nothing ----------------------------------------
must "a reload with unchanged CRLs is logged" server_reload
check "it succeeds: result=ok trigger=signal" reload_says 'result=ok trigger=signal'
sleep 0.5
check "it ends no session" fails has_line 'audit event=end ' "$slog"
check "all three clients are still running" bg_alive alice
check "all three clients are still running (bob)" bg_alive bob
check "all three clients are still running (carol)" bg_alive carol

# --- 2. revoke bob's device ----------------------------------------------------
must "laptop-077 revoked and device-ca.crl regenerated (mkpki.sh revoke)" \
	quiet "$MKPKI" revoke "$ZT_PKI" device laptop-077
must "the device CRL lists laptop-077's serial" \
	grep -q "Serial Number: $(openssl x509 -in "$ZT_PKI/devices/laptop-077.crt" -noout -serial | cut -d= -f2)" \
	<(openssl crl -in "$ZT_PKI/device-ca.crl" -noout -text)
alice_before=$(replies alice-ping)
must "SIGHUP: the reload is logged" server_reload
check "the reload succeeds (result=ok)" reload_says 'result=ok trigger=signal'
check "bob's session ends within 1 s: reason=revoked, device certificate revoked" \
	ended_within_1s bob laptop-077 revoked 'device certificate revoked'
check "bob's client exits (3 s)" bg_wait bob 3
check "bob's client exit status is 1 (got '$BG_STATUS')" test "$BG_STATUS" = 1
check "bob's client says 'session closed by server (revoked): device certificate revoked'" \
	has_line 'ztvpn-client: error: session closed by server \(revoked\): device certificate revoked' \
	"$(bg_log bob)"
bg_stop bob-ping
check "bob's pings had been answered until then" at_least 3 ' bytes from ' "$(bg_log bob-ping)"
check "alice's pings go on being answered" wait_for 3 replies_grow alice-ping $((alice_before + 5))
check "alice's client is still running" bg_alive alice
check "alice did not reconnect (one 'tunnel up')" \
	test "$(count 'tunnel up: ' "$(bg_log alice)")" = 1
check "alice's session did not end" fails has_line "$(audit_end_re alice laptop-042 '[a-z-]+')" "$slog"
check "carol's client is still running" bg_alive carol
check "the server admitted no one again (3 admissions)" test "$(count "$admit_re" "$slog")" = 3

# --- 3. revoke alice's user certificate ------------------------------------------
bg_stop alice-ping
check "not one of alice's pings was lost while bob's session was closed" no_gap alice-ping
must "alice's user certificate revoked and user-ca.crl regenerated" \
	quiet "$MKPKI" revoke "$ZT_PKI" user alice
must "SIGHUP: the reload is logged" server_reload
check "the reload succeeds (result=ok)" reload_says 'result=ok trigger=signal'
check "alice's session ends within 1 s: reason=revoked, user certificate revoked" \
	ended_within_1s alice laptop-042 revoked 'user certificate revoked'
check "alice's client exits (3 s)" bg_wait alice 3
check "alice's client exit status is 1 (got '$BG_STATUS')" test "$BG_STATUS" = 1
check "alice's client says 'session closed by server (revoked): user certificate revoked'" \
	has_line 'ztvpn-client: error: session closed by server \(revoked\): user certificate revoked' \
	"$(bg_log alice)"
check "carol's client is still running" bg_alive carol
check "carol still pings corp" ping_ok "$NS_L3" "$CORP_ADDR" 2

# --- 4. the revoked identities are turned away ---------------------------------------
# try_again NAME NS CONF CODE: a new connection is rejected: exit 1, the
# reason on the client, a rejection with CODE on the server, no admission.
try_again() {
	local name=$1 ns=$2 cfile=$3 code=$4 before admits
	before=$(count "$(audit_reject_re "$code")" "$slog")
	admits=$(count "$admit_re" "$slog")
	run_fg "$name" 20 "$ns" "$CLIENT_BIN" -c "$cfile"
	check "$name: exits 1 (status $FG_STATUS)" test "$FG_STATUS" = 1
	check "$name: 'rejected by server: ...revoked'" \
		has_line 'rejected by server: .*revoked' "$(bg_log "$name")"
	check "$name: the server logs event=reject reason=$code" \
		wait_for 5 at_least $((before + 1)) "$(audit_reject_re "$code")" "$slog"
	check "$name: no new admission" test "$(count "$admit_re" "$slog")" = "$admits"
}
try_again bob-again "$NS_L2" "$ZT_TMP/laptop2/client.conf" device-auth
try_again alice-again "$NS_L1" "$ZT_TMP/laptop1/client.conf" user-auth

# --- 5. carol's certificate reaches notAfter -------------------------------------------
exp_ms=$((CAROL_EXP * 1000))
carol_re="$(audit_end_re carol laptop-099 revoked)detail=\"user certificate expired\""
left=$((exp_ms - $(now_us) / 1000))
log "carol's user certificate expires in ${left} ms"
must "the test reached carol's expiry in time to time it (${left} ms before notAfter)" \
	test "$left" -gt 200
check "carol's session is still up before notAfter" fails has_line 'audit event=end session=[^ ]+ user="?carol' "$slog"
check "carol's client is still running shortly before notAfter" bg_alive carol
if wait_for_ms $((left + 5000)) has_line "$carol_re" "$slog"; then
	late=$(($(now_us) / 1000 - exp_ms))
	log "carol's session end logged ${late} ms after notAfter"
	check "carol's session ends at notAfter, not before (${late} ms after)" test "$late" -ge 0
	# 1 s, plus 0.1 s for this loop's 0.05 s poll and the log write.
	check "carol's session ends within 1 s of notAfter (${late} ms, <= 1100 allowed)" \
		test "$late" -le 1100
else
	not_ok "carol's session did not end with reason=revoked 'user certificate expired' within 5 s of notAfter"
fi
check "carol's client exits (3 s)" bg_wait carol 3
check "carol's client exit status is 1 (got '$BG_STATUS')" test "$BG_STATUS" = 1
check "carol's client says 'session closed by server (revoked): user certificate expired'" \
	has_line 'ztvpn-client: error: session closed by server \(revoked\): user certificate expired' \
	"$(bg_log carol)"

check "the server is still running" bg_alive server
bg_stop server
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
