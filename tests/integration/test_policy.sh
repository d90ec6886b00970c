#!/bin/bash
# The policy on every packet. Two identities on two devices, connected at
# the same time: alice (group engineering) on laptop-042 (group managed)
# and bob (group sales) on laptop-077 (group byod). corp (198.51.100.10 and
# 198.51.100.11, fd00:c0::10) serves TCP on several ports and answers
# ping. Each identity reaches exactly what its rules allow and nothing
# else, checked with real TCP connections that either get the server's
# banner or time out in 2 s (the tunnel routes are widened by hand in the
# laptops, so that denied packets do reach the concentrator and it is the
# policy, not a missing route, that stops them):
#
#   alice: 198.51.100.10 tcp/22, udp/5353 and icmp ("eng"), not tcp/8080 although
#          "eng" allows it ("no-admin" denies it: deny wins), not tcp/80;
#          198.51.100.11 tcp/8000-8100 only; fd00:c0::10 tcp/22 and icmp;
#          unsolicited inbound only from 198.51.100.10 to her tcp/2222.
#   bob:   198.51.100.10 tcp/80 only; no icmp; no inbound.
#
# Also: the routes pushed to each client are the prefixes its rules allow;
# drops are counted and logged per session; a user on a device he does not
# own, and a pair no rule admits, are rejected with the reason shown by the
# client and no address handed out; the offline query (ztvpn-server -q)
# agrees with what was observed.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init policy
require_bins server client
command -v python3 >/dev/null || bail "python3 is not installed"
zt_pki
topo_up 2
topo_v6
CORP2=198.51.100.11
ip -n "$NS_CORP" addr add "$CORP2/24" dev eth0
must "corp has a second address $CORP2" \
	wait_for 5 nsx "$NS_GW" ping -c1 -W1 -q "$CORP2"

conf=$ZT_TMP/gw/server.conf
pol=$ZT_TMP/gw/policy.conf
write_server_conf "$conf" 'policy = "policy.conf";'
must "tunnel.routes removed: the policy alone decides the routes" conf_routes "$conf"
must "pool6 = $POOL6 added" conf_pool6 "$conf"
# One rule per line, so that each rule's line number is known.
cat >"$pol" <<'EOF'
# test_policy.sh: who may reach what
devices = ( { id = "laptop-042"; owners = [ "alice" ]; } );
rules = (
  { name = "eng"; users = [ "group:engineering" ]; devices = [ "group:managed" ]; allow = [ "198.51.100.10 tcp/22,8080 icmp udp/5353", "198.51.100.11 tcp/8000-8100", "fd00:c0::10 tcp/22 icmp" ]; },
  { name = "sales-web"; users = [ "bob" ]; devices = [ "group:byod" ]; allow = [ "198.51.100.10 tcp/80" ]; },
  { name = "no-admin"; users = [ "*" ]; devices = [ "*" ]; deny = [ "198.51.100.10 tcp/8080" ]; },
  { name = "helpdesk"; users = [ "*" ]; devices = [ "group:managed" ]; inbound = [ "198.51.100.10 tcp/2222" ]; }
);
tests = (
  { user = "alice"; user_groups = [ "engineering" ]; device = "laptop-042"; device_groups = [ "managed" ]; to = "198.51.100.10 tcp/22"; expect = "allow"; rule = "eng"; },
  { user = "bob"; device = "laptop-042"; expect = "reject"; }
);
EOF
line_of() { grep -n -- "$1" "$pol" | head -n1 | cut -d: -f1; }
L_ENG=$(line_of 'name = "eng"')
L_NOADMIN=$(line_of 'name = "no-admin"')
L_HELPDESK=$(line_of 'name = "helpdesk"')

run_fg check-conf 10 "$NS_GW" "$SERVER_BIN" -n -c "$conf"
check "ztvpn-server -n accepts the configuration and its policy (status $FG_STATUS)" \
	test "$FG_STATUS" = 0

# corp's services: a banner on every port, on both addresses and over IPv6.
PORTS=(22 80 7999 8000 8050 8100 8101 8080)
must "corp serves tcp ${PORTS[*]} on $CORP_ADDR" tcp_serve corp1 "$NS_CORP" "$CORP_ADDR" "${PORTS[@]}"
must "corp serves tcp ${PORTS[*]} on $CORP2" tcp_serve corp2 "$NS_CORP" "$CORP2" "${PORTS[@]}"
must "corp serves tcp 22 80 on $CORP_ADDR6" tcp_serve corp6 "$NS_CORP" "$CORP_ADDR6" 22 80
must "corp answers udp 5353 5354 on $CORP_ADDR" udp_serve corp-udp "$NS_CORP" "$CORP_ADDR" 5353 5354
must "the banner check works where plain routing allows it (gateway -> corp)" \
	reaches "$NS_GW" "$CORP2" 8050

must "server starts" start_server
slog=$(bg_log server)
admit_re='ztvpn-server: info: audit event=admit '

# --- admission -----------------------------------------------------------------
# Before anyone is connected, so that an address handed out by mistake shows
# as alice not getting the first one.
reject_pair() {
	local name=$1 dev=$2 user=$3 want=$4 before out
	write_client_conf "$ZT_TMP/laptop2/$name.conf" "$ZT_PKI/devices/$dev" "$ZT_PKI/users/$user"
	before=$(count "$(audit_reject_re policy)" "$slog")
	run_fg "$name" 20 "$NS_L2" "$CLIENT_BIN" -c "$ZT_TMP/laptop2/$name.conf"
	out=$(bg_log "$name")
	check "$user on $dev: the client exits 1 (status $FG_STATUS)" test "$FG_STATUS" = 1
	check "$user on $dev: the client says 'rejected by server: $want'" \
		has_line "rejected by server: $want" "$out"
	check "$user on $dev: the server logs event=reject reason=policy with the reason" \
		wait_for 5 has_line "$(audit_reject_re policy).*detail=\"$want\"" "$slog"
	check "$user on $dev: exactly one more policy rejection" \
		test "$(count "$(audit_reject_re policy)" "$slog")" = $((before + 1))
	check "$user on $dev: no tunnel came up" fails has_line 'tunnel up' "$out"
	check "$user on $dev: no ztvpn0 was left in laptop2" fails quiet nsx "$NS_L2" ip link show ztvpn0
}
reject_pair bob-on-042 laptop-042 bob 'user bob is not an owner of device laptop-042'
reject_pair alice-on-077 laptop-077 alice 'no rule admits user alice on device laptop-077'
check "no admission so far" test "$(count "$admit_re" "$slog")" = 0

start_alice_and_bob
A=$(client_addr alice)
B=$(client_addr bob)
A6=$(client_addr6 alice)
check "alice got 100.64.0.2: the rejected pairs used up no address (got '$A')" test "$A" = 100.64.0.2
check "bob got 100.64.0.3 (got '$B')" test "$B" = 100.64.0.3
check "alice got an IPv6 address (got '$A6')" test -n "$A6"
check "server audits alice/laptop-042" \
	wait_for 5 has_line "$(audit_admit_re alice laptop-042 100.64.0.2 "$L1_ADDR")" "$slog"
check "server audits bob/laptop-077" \
	wait_for 5 has_line "$(audit_admit_re bob laptop-077 100.64.0.3 "$L2_ADDR")" "$slog"

# --- routes follow the policy --------------------------------------------------
ra=$(client_routes alice)
rb=$(client_routes bob)
check "alice was pushed exactly her rules' prefixes (got '$ra')" \
	test "$ra" = "198.51.100.10/32 198.51.100.11/32 fd00:c0::10/128"
check "bob was pushed exactly his rules' prefix (got '$rb')" \
	test "$rb" = "198.51.100.10/32"
check "laptop1 routes 198.51.100.10/32 via ztvpn0" route_dev "$NS_L1" 198.51.100.10/32 ztvpn0
check "laptop1 routes 198.51.100.11/32 via ztvpn0" route_dev "$NS_L1" 198.51.100.11/32 ztvpn0
check "laptop1 routes fd00:c0::10/128 via ztvpn0" route_dev "$NS_L1" fd00:c0::10/128 ztvpn0
check "laptop2 routes 198.51.100.10/32 via ztvpn0" route_dev "$NS_L2" 198.51.100.10/32 ztvpn0
check "laptop2 has no route to $CORP2" fails quiet nsx "$NS_L2" ip route get "$CORP2"
r=$(tcp_probe "$NS_L2" "$CORP2" 8000)
check "so bob's connection to $CORP2 fails at once: unreachable (got '$r')" test "$r" = unreachable

# From here on the laptops route all of corp into the tunnel, as a client
# that ignores its pushed routes would: the concentrator must still refuse.
for ns in "$NS_L1" "$NS_L2"; do
	nsx "$ns" ip route replace 198.51.100.0/24 dev ztvpn0
	nsx "$ns" ip -6 route add "$CORP_NET6" dev ztvpn0 2>/dev/null || true
done
check "laptop2 now routes $CORP2 into ztvpn0" route_dev "$NS_L2" 198.51.100.0/24 ztvpn0

# --- what alice reaches ----------------------------------------------------------
check "alice -> $CORP_ADDR tcp/22: open (rule eng)" reaches "$NS_L1" "$CORP_ADDR" 22
check "alice -> $CORP_ADDR tcp/8080: times out (eng allows it, no-admin denies it: deny wins)" \
	blocked "$NS_L1" "$CORP_ADDR" 8080
check "alice -> $CORP_ADDR tcp/80: times out (bob's rule, not hers)" blocked "$NS_L1" "$CORP_ADDR" 80
check "alice -> $CORP_ADDR tcp/8000: times out (the range is for $CORP2 only)" \
	blocked "$NS_L1" "$CORP_ADDR" 8000
check "alice -> $CORP2 tcp/8000: open (first port of the range)" reaches "$NS_L1" "$CORP2" 8000
check "alice -> $CORP2 tcp/8050: open (inside the range)" reaches "$NS_L1" "$CORP2" 8050
check "alice -> $CORP2 tcp/8100: open (last port of the range)" reaches "$NS_L1" "$CORP2" 8100
check "alice -> $CORP2 tcp/7999: times out (below the range)" blocked "$NS_L1" "$CORP2" 7999
check "alice -> $CORP2 tcp/8101: times out (above the range)" blocked "$NS_L1" "$CORP2" 8101
check "alice -> $CORP2 tcp/22: times out (tcp/22 is for $CORP_ADDR only)" blocked "$NS_L1" "$CORP2" 22
check "alice -> $CORP_ADDR udp/5353: answered (the reply comes back)" udp_answered "$NS_L1" "$CORP_ADDR" 5353
check "alice -> $CORP_ADDR udp/5354: no answer" udp_unanswered "$NS_L1" "$CORP_ADDR" 5354
check "alice pings $CORP_ADDR (icmp allowed)" ping_ok "$NS_L1" "$CORP_ADDR" 3
check "alice cannot ping $CORP2 (no icmp there)" no_ping "$NS_L1" "$CORP2"

# --- what bob reaches ------------------------------------------------------------
check "bob -> $CORP_ADDR tcp/80: open (rule sales-web)" reaches "$NS_L2" "$CORP_ADDR" 80
check "bob -> $CORP_ADDR tcp/22: times out" blocked "$NS_L2" "$CORP_ADDR" 22
check "bob -> $CORP_ADDR tcp/8080: times out" blocked "$NS_L2" "$CORP_ADDR" 8080
check "bob -> $CORP2 tcp/80: times out (the rule names $CORP_ADDR only)" blocked "$NS_L2" "$CORP2" 80
check "bob -> $CORP2 tcp/8000: times out (alice's range, not his)" blocked "$NS_L2" "$CORP2" 8000
check "bob cannot ping $CORP_ADDR (no icmp for him)" no_ping "$NS_L2" "$CORP_ADDR"
check "bob -> $CORP_ADDR udp/5353: no answer" udp_unanswered "$NS_L2" "$CORP_ADDR" 5353

# --- IPv6 --------------------------------------------------------------------------
check "alice -> [$CORP_ADDR6] tcp/22: open" reaches "$NS_L1" "$CORP_ADDR6" 22
check "alice -> [$CORP_ADDR6] tcp/80: times out" blocked "$NS_L1" "$CORP_ADDR6" 80
check "alice pings $CORP_ADDR6" ping_ok "$NS_L1" "$CORP_ADDR6" 3
if [[ -n $(client_addr6 bob) ]]; then
	check "bob -> [$CORP_ADDR6] tcp/22: times out" blocked "$NS_L2" "$CORP_ADDR6" 22
	check "bob cannot ping $CORP_ADDR6" no_ping "$NS_L2" "$CORP_ADDR6"
fi

# --- unsolicited inbound -------------------------------------------------------------
must "laptop1 serves tcp 2222 2223 on alice's tunnel address" \
	tcp_serve laptop1-srv "$NS_L1" "$A" 2222 2223
must "laptop2 serves tcp 2222 on bob's tunnel address" tcp_serve laptop2-srv "$NS_L2" "$B" 2222
check "corp $CORP_ADDR -> alice tcp/2222: open (inbound rule helpdesk)" \
	reaches "$NS_CORP" "$A" 2222 "$CORP_ADDR"
check "corp $CORP_ADDR -> alice tcp/2223: times out (unsolicited)" \
	blocked "$NS_CORP" "$A" 2223 "$CORP_ADDR"
check "corp $CORP2 -> alice tcp/2222: times out (the inbound rule names $CORP_ADDR)" \
	blocked "$NS_CORP" "$A" 2222 "$CORP2"
check "corp $CORP_ADDR -> bob tcp/2222: times out (helpdesk is for managed devices)" \
	blocked "$NS_CORP" "$B" 2222 "$CORP_ADDR"
check "laptop1 saw exactly one inbound connection (the allowed one)" \
	test "$(count '^connection to ' "$(bg_log laptop1-srv)")" = 1
check "laptop2 saw no inbound connection" \
	test "$(count '^connection to ' "$(bg_log laptop2-srv)")" = 0
check "corp's udp/5354 and bob's udp/5353 datagrams never reached corp" \
	fails grep -qE "^datagram to $CORP_ADDR:5354 |^datagram to $CORP_ADDR:5353 from $B\$" "$(bg_log corp-udp)"

# --- drops are counted and logged ----------------------------------------------------
check "server logs alice's policy drops" \
	wait_for 3 has_line "$(drop_log_re alice laptop-042 policy)" "$slog"
check "server logs bob's policy drops" \
	wait_for 3 has_line "$(drop_log_re bob laptop-077 policy)" "$slog"
check "server logs unsolicited drops for alice" \
	wait_for 3 has_line "$(drop_log_re alice laptop-042 unsolicited)" "$slog"
check "server logs unsolicited drops for bob" \
	wait_for 3 has_line "$(drop_log_re bob laptop-077 unsolicited)" "$slog"
n=$(grep -E "$(drop_log_re alice laptop-042 policy)" "$slog" | tail -n1 |
	sed -n 's/.*dropped packet: policy (\([0-9]*\) so far).*/\1/p')
# alice's denied probes: 6 TCP connections (each SYN retried within 2 s)
# and one ping.
check "alice's policy drop counter counts every denied attempt (>= 7, got '${n:-none}')" \
	test "${n:-0}" -ge 7
check "the corp services logged no connection from a denied probe" \
	fails grep -qE "^connection to $CORP2:(7999|8101|22|80) |^connection to $CORP_ADDR:(8080|8000) " \
	"$(bg_log corp1)" "$(bg_log corp2)"

check "both clients still connected" bg_alive alice
check "both clients still connected (bob)" bg_alive bob
check "still exactly two admissions" test "$(count "$admit_re" "$slog")" = 2

# --- the offline query agrees ----------------------------------------------------------
# query NAME WANT_STATUS REGEX USER DEVICE DEST
query() {
	local name=$1 want=$2 re=$3
	shift 3
	run_fg "q-$name" 10 "$NS_GW" "$SERVER_BIN" -c "$conf" -q "$@"
	if [[ $FG_STATUS == "$want" ]] && has_line "$re" "$(bg_log "q-$name")"; then
		return 0
	fi
	log "ztvpn-server -q $*: status $FG_STATUS, output:"
	diag "$(bg_log "q-$name")"
	return 1
}
AL='alice:engineering'
DM='laptop-042:managed'
check "query: alice on laptop-042 -> $CORP_ADDR tcp/22: allow by eng, line $L_ENG (exit 0)" \
	query a22 0 "^allow: rule \"eng\" \\(.*policy\\.conf:$L_ENG\\)" "$AL" "$DM" "$CORP_ADDR tcp/22"
check "query: alice on laptop-042 -> $CORP_ADDR tcp/8080: denied by no-admin, line $L_NOADMIN (exit 1)" \
	query a8080 1 "^denied: rule \"no-admin\" \\(.*policy\\.conf:$L_NOADMIN\\)" "$AL" "$DM" "$CORP_ADDR tcp/8080"
check "query: alice on laptop-042 -> $CORP2 tcp/8101: deny, no rule (exit 1)" \
	query a8101 1 '^deny: no rule allows it' "$AL" "$DM" "$CORP2 tcp/8101"
check "query: alice on laptop-042 -> $CORP_ADDR icmp: allow by eng (exit 0)" \
	query aicmp 0 '^allow: rule "eng"' "$AL" "$DM" "$CORP_ADDR icmp"
check "query: alice on laptop-042 -> $CORP_ADDR udp/5353: allow by eng (exit 0)" \
	query audp 0 '^allow: rule "eng"' "$AL" "$DM" "$CORP_ADDR udp/5353"
check "query: alice on laptop-042 -> $CORP_ADDR udp/5354: deny (exit 1)" \
	query audp2 1 '^deny: no rule allows it' "$AL" "$DM" "$CORP_ADDR udp/5354"
check "query: bob on laptop-077 -> $CORP_ADDR tcp/80: allow by sales-web (exit 0)" \
	query b80 0 '^allow: rule "sales-web"' bob:sales laptop-077:byod "$CORP_ADDR tcp/80"
check "query: bob on laptop-077 -> $CORP_ADDR icmp: deny (exit 1)" \
	query bicmp 1 '^deny: no rule allows it' bob:sales laptop-077:byod "$CORP_ADDR icmp"
check "query: bob on laptop-042: reject, not an owner (exit 1)" \
	query b042 1 '^reject: user bob is not an owner of device laptop-042' \
	bob:sales "$DM" "$CORP_ADDR tcp/80"
check "query: alice on laptop-042 from $CORP_ADDR tcp/2222: allow by helpdesk, line $L_HELPDESK (exit 0)" \
	query in2222 0 "^allow: rule \"helpdesk\" \\(.*policy\\.conf:$L_HELPDESK\\)" "$AL" "$DM" "from $CORP_ADDR tcp/2222"
check "query: alice on laptop-042 from $CORP2 tcp/2222: deny (exit 1)" \
	query in2222b 1 '^deny: ' "$AL" "$DM" "from $CORP2 tcp/2222"
check "query: a malformed destination is a usage error (exit 2)" \
	query bad 2 '.' "$AL" "$DM" "$CORP_ADDR tcp/70000"

bg_stop bob
check "bob's client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
bg_stop alice
check "alice's client exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
bg_stop server
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
