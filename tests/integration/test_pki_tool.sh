#!/bin/bash
# ztvpn-pki end to end. A PKI made with ztvpn-pki alone:
#   1. interchangeability: its certificates and CRLs verify with the openssl
#      CLI and carry the fields the README promises; a tunnel session runs
#      on it; MIXED setups (openssl-made server and user CA with a
#      ztvpn-pki device CA, and the other way round) admit and pass traffic;
#   2. revocation: `ztvpn-pki revoke device laptop-077` + SIGHUP closes bob's
#      live session within 1 s while alice's pings go on; bob is refused
#      when he tries again;
#   3. administration: list shows the revoked status, keys are 0600, CA
#      directories 0700, --force is needed to replace files, usage errors
#      exit 2, Ed25519 works.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init pki_tool
PKI_BIN=$ZT_BUILD/common/pki/ztvpn-pki
require_bins server client "$PKI_BIN"

T=$ZT_TMP/tool       # made here with ztvpn-pki
O=$ZT_TMP/openssl    # made with the openssl CLI (tests/pki/mkpki.sh)
pki() { "$PKI_BIN" -d "$T" "$@"; }
# pki_status WANT CMD...: ztvpn-pki exits with WANT (its output in pki.log).
pki_status() {
	local want=$1 st=0
	shift
	"$PKI_BIN" "$@" >"$ZT_TMP/pki.log" 2>&1 || st=$?
	[[ $st == "$want" ]] && return 0
	log "ztvpn-pki $*: exit $st (wanted $want)"
	diag "$ZT_TMP/pki.log"
	return 1
}

must "init: three CAs" quiet pki init
must "server gw.corp.example with IP:$GW_LAN" quiet pki server gw.corp.example --san "IP:$GW_LAN"
must "device laptop-042 (managed)" quiet pki device laptop-042 --group managed
must "device laptop-077 (byod)" quiet pki device laptop-077 --group byod
must "user alice (engineering)" quiet pki user alice --group engineering
must "user bob (sales, eu)" quiet pki user bob --group sales --group eu
must "the openssl-made PKI (mkpki.sh)" quiet "$ZT_REPO/tests/pki/mkpki.sh" "$O"

# --- 1. what openssl says about ztvpn-pki's files --------------------------
verify() { # CA PURPOSE CERT [options]
	local ca=$1 purpose=$2 cert=$3
	shift 3
	openssl verify -purpose "$purpose" -CAfile "$T/$ca" "$@" "$T/$cert" >/dev/null 2>&1
}
verify_err() { # ERRNUM CA PURPOSE CERT [options]
	local err=$1 ca=$2 purpose=$3 cert=$4 out
	shift 4
	out=$(openssl verify -purpose "$purpose" -CAfile "$T/$ca" "$@" "$T/$cert" 2>&1) && return 1
	grep -q "error $err at" <<<"$out"
}
text_has() { # FILE TEXT: openssl x509|crl -text shows TEXT
	local kind=x509 out
	[[ $1 == *.crl ]] && kind=crl
	out=$(openssl "$kind" -in "$T/$1" -noout -text 2>/dev/null) || return 1
	grep -qF -- "$2" <<<"$out"
}
subject_is() {
	[[ $(openssl x509 -in "$T/$1" -noout -subject -nameopt compat) == "subject=$2" ]]
}

for ca in server-ca device-ca user-ca; do
	check "$ca.crt: CA:TRUE (critical)" text_has "$ca.crt" 'CA:TRUE'
	check "$ca.crt: key usage Certificate Sign, CRL Sign" text_has "$ca.crt" 'Certificate Sign, CRL Sign'
	check "$ca.crt: ECDSA P-256" text_has "$ca.crt" 'NIST CURVE: P-256'
	check "$ca.crl verifies with $ca.crt (openssl crl)" \
		grep -q 'verify OK' <(openssl crl -in "$T/$ca.crl" -CAfile "$T/$ca.crt" -noout 2>&1)
	check "$ca.crl is empty" text_has "$ca.crl" 'No Revoked Certificates'
done
check "server.crt verifies for gw.corp.example (openssl verify, sslserver)" \
	verify server-ca.crt sslserver server.crt -verify_hostname gw.corp.example
check "server.crt verifies for IP $GW_LAN" verify server-ca.crt sslserver server.crt -verify_ip "$GW_LAN"
check "server.crt does not verify for wrong.corp.example" \
	fails verify server-ca.crt sslserver server.crt -verify_hostname wrong.corp.example
check "server.crt: EKU serverAuth" text_has server.crt 'TLS Web Server Authentication'
check "server.crt is servers/gw.corp.example.crt" cmp -s "$T/server.crt" "$T/servers/gw.corp.example.crt"
check "laptop-042 verifies against device-ca with its CRL (sslclient)" \
	verify device-ca.crt sslclient devices/laptop-042.crt -crl_check -CRLfile "$T/device-ca.crl"
check "alice verifies against user-ca with its CRL (sslclient)" \
	verify user-ca.crt sslclient users/alice.crt -crl_check -CRLfile "$T/user-ca.crl"
check "laptop-042 subject: /O=ztvpn/OU=managed/CN=laptop-042" \
	subject_is devices/laptop-042.crt '/O=ztvpn/OU=managed/CN=laptop-042'
check "bob subject: two OUs in order" subject_is users/bob.crt '/O=ztvpn/OU=sales/OU=eu/CN=bob'
check "laptop-042: EKU clientAuth" text_has devices/laptop-042.crt 'TLS Web Client Authentication'
check "laptop-042: key usage Digital Signature only" \
	grep -qx ' *Digital Signature' <(openssl x509 -in "$T/devices/laptop-042.crt" -noout -ext keyUsage)
check "laptop-042 is not accepted by the user CA" verify_err 20 user-ca.crt sslclient devices/laptop-042.crt
check "server.crt is not a client certificate" verify_err 26 server-ca.crt sslclient server.crt
days=$((($(date -d "$(openssl x509 -in "$T/devices/laptop-042.crt" -noout -enddate | cut -d= -f2)" +%s) - EPOCHSECONDS + 43200) / 86400))
check "device certificates last 825 days by default (got $days)" test "$days" = 825

# --- 2. a tunnel on the ztvpn-pki PKI, and revocation through it -------------
topo_up 2
ZT_PKI=$T
conf=$ZT_TMP/gw/server.conf
must "server.conf on the ztvpn-pki PKI, with its CRLs" write_server_conf_crl "$conf"
must "server starts" start_server
slog=$(bg_log server)
start_alice_and_bob
check "alice pings corp through the tunnel" ping_ok "$NS_L1" "$CORP_ADDR" 3
check "bob pings corp through the tunnel" ping_ok "$NS_L2" "$CORP_ADDR" 3
check "20 MB from alice's laptop to corp arrive intact" tcp_transfer up "$NS_L1" 5001 20 up

start_bg alice-ping "$NS_L1" ping -n -i 0.2 -w 60 "$CORP_ADDR"
replies() { count ' bytes from ' "$(bg_log "$1")"; }
replies_grow() { (($(replies "$1") > $2)); }
check "alice's continuous pings are answered" wait_for 5 replies_grow alice-ping 2

serial=$(openssl x509 -in "$T/devices/laptop-077.crt" -noout -serial | cut -d= -f2)
must "ztvpn-pki revoke device laptop-077 --reason keyCompromise" \
	quiet pki revoke device laptop-077 --reason keyCompromise
# crl_lists CRL SERIAL REASON: the CRL's entry for SERIAL has that reason.
crl_lists() {
	openssl crl -in "$T/$1" -noout -text | grep -A4 "Serial Number: $2" | grep -q "$3"
}
check "device-ca.crl lists serial $serial, reason Key Compromise" \
	crl_lists device-ca.crl "$serial" 'Key Compromise'
check "openssl verify with the new CRL: laptop-077 revoked (error 23)" \
	verify_err 23 device-ca.crt sslclient devices/laptop-077.crt -crl_check -CRLfile "$T/device-ca.crl"
check "openssl verify with the new CRL: laptop-042 still good" \
	verify device-ca.crt sslclient devices/laptop-042.crt -crl_check -CRLfile "$T/device-ca.crl"
alice_before=$(replies alice-ping)
must "SIGHUP: the reload is logged" server_reload
check "the reload succeeds (result=ok)" reload_says 'result=ok trigger=signal'
end_re="$(audit_end_re bob laptop-077 revoked)detail=\"device certificate revoked\""
if wait_for_ms 5000 has_line "$end_re" "$slog"; then
	ms=$((($(now_us) - RELOAD_T0) / 1000))
	log "bob's session end logged ${ms} ms after the SIGHUP"
	check "bob's session ends within 1 s of the reload (${ms} ms)" test "$ms" -le 1000
else
	not_ok "bob's session did not end with reason=revoked within 5 s"
fi
check "bob's client exits 1" bg_wait bob 3
check "bob's client exit status is 1 (got '$BG_STATUS')" test "$BG_STATUS" = 1
check "alice's pings go on being answered" wait_for 3 replies_grow alice-ping $((alice_before + 5))
check "alice's client is still running, one 'tunnel up'" \
	test "$(count 'tunnel up: ' "$(bg_log alice)")" = 1
bg_stop alice-ping
run_fg bob-again 20 "$NS_L2" "$CLIENT_BIN" -c "$ZT_TMP/laptop2/client.conf"
check "bob is refused when he tries again (exit $FG_STATUS)" test "$FG_STATUS" = 1
check "bob-again: 'rejected by server: ...revoked'" has_line 'rejected by server: .*revoked' "$(bg_log bob-again)"
bg_stop alice
bg_stop server
bg_forget server

# --- 3. administration -------------------------------------------------------
"$PKI_BIN" -d "$T" list >"$ZT_TMP/list.txt"
check "list: laptop-077 is revoked" grep -qE "^device +laptop-077 +$serial +[0-9TZ:-]+ +revoked$" "$ZT_TMP/list.txt"
check "list: laptop-042 is valid" grep -qE '^device +laptop-042 +[0-9A-F]{32} +[0-9TZ:-]+ +valid$' "$ZT_TMP/list.txt"
check "list device --json: valid JSON, laptop-077 revoked" python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
st = {r["name"]: r["status"] for r in rows}
assert st == {"laptop-042": "valid", "laptop-077": "revoked"}, st
assert all(r["kind"] == "device" and len(r["serial"]) == 32 for r in rows)
' <("$PKI_BIN" -d "$T" list device --json)
bad_keys=$(find "$T" -name '*.key' ! -perm 0600 | wc -l)
check "every private key is mode 0600 ($bad_keys are not)" test "$bad_keys" = 0
check "ca/ and each ca/<ca>/ are mode 0700" \
	test "$(find "$T/ca" -maxdepth 1 -type d ! -perm 0700 | wc -l)" = 0
check "certificates are mode 0644" test "$(stat -c %a "$T/devices/laptop-042.crt")" = 644
crt_before=$(sha256sum <"$T/devices/laptop-042.crt")
check "issuing laptop-042 again without --force fails (exit 1)" pki_status 1 -d "$T" device laptop-042
check "... saying the file exists and --force replaces it" grep -q 'exists; --force replaces it' "$ZT_TMP/pki.log"
check "... and leaves the certificate alone" test "$(sha256sum <"$T/devices/laptop-042.crt")" = "$crt_before"
check "init again without --force fails (exit 1)" pki_status 1 -d "$T" init
check "with --force, laptop-042 is reissued" pki_status 0 -d "$T" --force device laptop-042 --group managed
check "... a new certificate, still mode 0600 for its key" \
	test "$(sha256sum <"$T/devices/laptop-042.crt")" != "$crt_before" -a "$(stat -c %a "$T/devices/laptop-042.key")" = 600
check "usage error: a name with '/' exits 2" pki_status 2 -d "$T" device ../evil
check "usage error: --days 0 exits 2" pki_status 2 -d "$T" user carol --days 0
check "usage error: a bad --not-after exits 2" pki_status 2 -d "$T" user carol --not-after 20201301000000Z
check "usage error: server does not take --group (exit 2)" pki_status 2 -d "$T" server gw2 --group x
check "usage error: unknown command exits 2" pki_status 2 -d "$T" sign
check "revoking an unknown name fails (exit 1)" pki_status 1 -d "$T" revoke user nobody
check "revoke --serial of laptop-077 again: already revoked (exit 1)" pki_status 1 -d "$T" revoke --serial "$serial"
check "-V prints the version" grep -q '^ztvpn-pki [0-9]' <("$PKI_BIN" -V)
check "an Ed25519 user certificate" pki_status 0 -d "$T" user dave --ed25519 --group engineering
check "... is Ed25519" text_has users/dave.crt 'ED25519'
check "... and verifies against user-ca (sslclient)" verify user-ca.crt sslclient users/dave.crt
crl_number() { openssl crl -in "$T/$1" -noout -crlnumber | sed 's/.*=\(0x\)\{0,1\}//'; }
n1=$(crl_number user-ca.crl)
check "crl user publishes a CRL" pki_status 0 -d "$T" crl user
n2=$(crl_number user-ca.crl)
check "crlNumber increases ($n1 -> $n2)" test "$((16#$n2))" -gt "$((16#$n1))"

# --- 1b. mixed PKIs --------------------------------------------------------------
# mixed NAME SRC_SERVER SRC_DEVICE SRC_USER: a gateway whose server
# certificate and server CA come from SRC_SERVER, device CA from SRC_DEVICE
# and user CA from SRC_USER (each $T or $O); alice on laptop-042 with
# certificates from those same sources is admitted and pings corp.
mixed() {
	local name=$1 s=$2 d=$3 u=$4 f=$ZT_TMP/$1/server.conf
	ZT_PKI=$s
	write_server_conf "$f"
	sed -i -e "s|^  device_ca = .*|  device_ca = \"$d/device-ca.crt\";|" \
		-e "s|^  user_ca = .*|  user_ca = \"$u/user-ca.crt\";\\n  crl = [ \"$d/device-ca.crl\", \"$u/user-ca.crl\" ];|" "$f"
	write_client_conf "$ZT_TMP/$name/client.conf" "$d/devices/laptop-042" "$u/users/alice"
	must "$name: server starts" start_server "$name-server" "$f"
	check "$name: alice on laptop-042 is admitted" start_client "$name-client" "$NS_L1" "$ZT_TMP/$name/client.conf"
	check "$name: laptop1 pings corp through the tunnel" ping_ok "$NS_L1" "$CORP_ADDR" 3
	bg_stop "$name-client"
	bg_stop "$name-server"
}
mixed mixed-openssl-server "$O" "$T" "$O"
mixed mixed-tool-server "$T" "$O" "$T"

zt_finish
