#!/bin/bash
# The test PKI made by tests/pki/mkpki.sh is what the other tests assume:
# chains, purposes, names, expired and rogue certificates, CRLs, key modes.
# Needs only the openssl CLI.
# shellcheck disable=SC2317 # helpers are called through check
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init pki
zt_pki
P=$ZT_PKI

verify() { # CA PURPOSE CERT [extra openssl verify options]
	local ca=$1 purpose=$2 cert=$3
	shift 3
	openssl verify -purpose "$purpose" -CAfile "$P/$ca" "$@" "$P/$cert" >/dev/null 2>&1
}
verify_err() { # ERRNUM CA PURPOSE CERT [options]: fails with that error
	local err=$1 ca=$2 purpose=$3 cert=$4 out
	shift 4
	out=$(openssl verify -purpose "$purpose" -CAfile "$P/$ca" "$@" "$P/$cert" 2>&1) && return 1
	grep -q "error $err at" <<<"$out"
}
subject_is() { # CERT SUBJECT
	[[ $(openssl x509 -in "$P/$1" -noout -subject -nameopt compat) == "subject=$2" ]]
}
has_ext() { # CERT EXT TEXT
	local out
	out=$(openssl x509 -in "$P/$1" -noout -ext "$2" 2>/dev/null) || return 1
	grep -q -- "$3" <<<"$out"
}
text_has() { # CERT|CRL TEXT: `openssl x509|crl -text` output contains TEXT
	local out kind=x509
	[[ $1 == *.crl ]] && kind=crl
	out=$(openssl "$kind" -in "$P/$1" -noout -text 2>/dev/null) || return 1
	grep -q -- "$2" <<<"$out"
}
crl_signed_by() { # CRL CA
	local out
	out=$(openssl crl -in "$P/$1" -CAfile "$P/$2" -noout 2>&1) || return 1
	grep -q 'verify OK' <<<"$out"
}

for ca in server-ca device-ca user-ca; do
	check "$ca.crt is a CA (CA:TRUE, keyCertSign, cRLSign)" \
		has_ext "$ca.crt" basicConstraints 'CA:TRUE'
	check "$ca.crt key usage is Certificate Sign, CRL Sign" \
		has_ext "$ca.crt" keyUsage 'Certificate Sign, CRL Sign'
	check "$ca key is ECDSA P-256" \
		text_has "$ca.crt" 'NIST CURVE: P-256'
done
check "server.crt verifies for gw.corp.example (serverAuth)" \
	verify server-ca.crt sslserver server.crt -verify_hostname gw.corp.example
check "server.crt has SAN DNS:gw.corp.example" has_ext server.crt subjectAltName 'DNS:gw.corp.example'
check "server.crt does not verify for wrong.corp.example" \
	fails verify server-ca.crt sslserver server.crt -verify_hostname wrong.corp.example
check "laptop-042: device CA, clientAuth, with the empty CRL" \
	verify device-ca.crt sslclient devices/laptop-042.crt -crl_check -CRLfile "$P/device-ca.crl"
check "laptop-042 subject has OU=managed, CN=laptop-042" \
	subject_is devices/laptop-042.crt '/O=ztvpn demo/OU=managed/CN=laptop-042'
check "laptop-077 subject has OU=byod, CN=laptop-077" \
	subject_is devices/laptop-077.crt '/O=ztvpn demo/OU=byod/CN=laptop-077'
check "alice: user CA, clientAuth, with the empty CRL" \
	verify user-ca.crt sslclient users/alice.crt -crl_check -CRLfile "$P/user-ca.crl"
check "alice subject has OU=engineering" subject_is users/alice.crt '/O=ztvpn demo/OU=engineering/CN=alice'
check "bob subject has OU=sales" subject_is users/bob.crt '/O=ztvpn demo/OU=sales/CN=bob'
check "laptop-042 is not accepted by the user CA" verify_err 20 user-ca.crt sslclient devices/laptop-042.crt
check "alice is not accepted by the device CA" verify_err 20 device-ca.crt sslclient users/alice.crt
check "server.crt is not a client certificate" verify_err 26 server-ca.crt sslclient server.crt
check "bad/device-expired has expired" verify_err 10 device-ca.crt sslclient bad/device-expired.crt
check "bad/user-expired has expired" verify_err 10 user-ca.crt sslclient bad/user-expired.crt
check "bad/device-rogue is unknown to the device CA" verify_err 20 device-ca.crt sslclient bad/device-rogue.crt
check "bad/user-rogue is unknown to the user CA" verify_err 20 user-ca.crt sslclient bad/user-rogue.crt
check "bad/device-rogue chains to bad/rogue-ca" verify bad/rogue-ca.crt sslclient bad/device-rogue.crt
check "bad/user-from-device-ca (mallory) is issued by the device CA" \
	verify device-ca.crt sslclient bad/user-from-device-ca.crt
check "bad/device-from-user-ca (laptop-999) is issued by the user CA" \
	verify user-ca.crt sslclient bad/device-from-user-ca.crt
for crl in device-ca user-ca; do
	check "$crl.crl is signed by $crl" crl_signed_by "$crl.crl" "$crl.crt"
	check "$crl.crl is empty" text_has "$crl.crl" 'No Revoked Certificates'
done
bad_modes=$(find "$P" -name '*.key' ! -perm 0600 | wc -l)
check "every private key is mode 0600 ($bad_modes are not)" test "$bad_modes" = 0

check "mkpki.sh refuses a non-empty directory" fails quiet "$MKPKI" "$P"

# Revocation the administrator's way, then a new CRL.
cnf=$P/ca/device-ca/openssl.cnf
check "openssl ca -revoke works on the device CA database" \
	quiet openssl ca -config "$cnf" -revoke "$P/devices/laptop-077.crt"
check "openssl ca -gencrl publishes a CRL" \
	quiet openssl ca -config "$cnf" -gencrl -out "$P/device-ca.crl"
check "laptop-077 is revoked by the new CRL" \
	verify_err 23 device-ca.crt sslclient devices/laptop-077.crt -crl_check -CRLfile "$P/device-ca.crl"
check "laptop-042 still verifies with the new CRL" \
	verify device-ca.crt sslclient devices/laptop-042.crt -crl_check -CRLfile "$P/device-ca.crl"
check "mkpki.sh issue makes a short-lived user certificate" \
	quiet "$MKPKI" issue "$P" user dave engineering,admins 20991231000000Z
check "dave has two OUs" subject_is users/dave.crt '/O=ztvpn demo/OU=engineering/OU=admins/CN=dave'

zt_finish
