#!/bin/bash
# Admission failures: each rejected connection shows its reason on the
# client, the client exits 1, the server logs a rejection with the right
# reason code and no admission, and no tunnel address is used up: a good
# client afterwards still gets 100.64.0.2.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init rejections
require_bins server client testpeer
zt_pki
topo_up 1

write_server_conf "$ZT_TMP/gw/server.conf"
must "server starts" start_server
slog=$(bg_log server)
admit_re='ztvpn-server: info: audit event=admit '

# reject_case NAME REASON CLIENT_REGEX DEVICE USER [testpeer MODE]
#   Run the client (or the test peer in MODE) with DEVICE/USER certificates
#   (paths under $ZT_PKI without suffix) and check the outcome.
reject_case() {
	local name=$1 code=$2 want=$3 dev=$4 user=$5 tool=${6:-client} mode=${7:-}
	local conf=$ZT_TMP/laptop1/$name.conf out before
	write_client_conf "$conf" "$ZT_PKI/$dev" "$ZT_PKI/$user"
	before=$(count "$(audit_reject_re "$code")" "$slog")
	if [[ $tool == testpeer ]]; then
		run_fg "$name" 20 "$NS_L1" "$TESTPEER_BIN" -c "$conf" "$mode"
	else
		run_fg "$name" 20 "$NS_L1" "$CLIENT_BIN" -c "$conf"
	fi
	out=$(bg_log "$name")
	check "$name: exits 1 (status $FG_STATUS)" test "$FG_STATUS" = 1
	check "$name: says 'rejected by server:' with /$want/" \
		grep -qiE -- "rejected by server:.*($want)" "$out"
	grep -qiE -- "rejected by server:.*($want)" "$out" || diag "$out"
	check "$name: server logs event=reject reason=$code" \
		wait_for 5 at_least $((before + 1)) "$(audit_reject_re "$code")" "$slog"
	check "$name: server logs no admission" test "$(count "$admit_re" "$slog")" = 0
}

reject_case no-user-cert user-auth 'no user certificate|user certificate' \
	devices/laptop-042 users/alice testpeer no-user-cert
reject_case user-cert-from-device-ca user-auth 'user certificate' \
	devices/laptop-042 bad/user-from-device-ca
reject_case device-cert-from-user-ca device-auth 'unknown CA' \
	bad/device-from-user-ca users/alice
reject_case expired-device-cert device-auth 'certificate expired' \
	bad/device-expired users/alice
reject_case expired-user-cert user-auth 'user certificate.*expired' \
	devices/laptop-042 bad/user-expired
reject_case device-cert-unknown-ca device-auth 'unknown CA' \
	bad/device-rogue users/alice
reject_case user-cert-unknown-ca user-auth 'user certificate' \
	devices/laptop-042 bad/user-rogue
reject_case user-proof-replayed user-auth 'user proof' \
	devices/laptop-042 users/alice testpeer replay-proof

check "server survived all rejections" bg_alive server

write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
must "a good client (alice on laptop-042) is admitted afterwards" \
	start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
addr=$(client_addr client1)
check "it gets 100.64.0.2: no address was consumed (got '$addr')" \
	test "$addr" = 100.64.0.2
check "server logs exactly one admission" \
	wait_for 5 has_line "$(audit_admit_re alice laptop-042 100.64.0.2 "$L1_ADDR")" "$slog"
check "the good client pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3

zt_finish
