#!/bin/bash
# mkpki.sh: make a demo/test PKI for ztvpn with the openssl CLI, the way an
# administrator would: one `openssl ca` database per certificate authority,
# so that certificates can later be revoked with `openssl ca -revoke` and a
# new CRL published with `openssl ca -gencrl`.
#
# Usage:
#   mkpki.sh DIR
#       Create the whole PKI in DIR. DIR must not exist or must be empty.
#   mkpki.sh issue DIR {device|user} NAME [GROUP[,GROUP...]] [ENDDATE]
#       Issue one more certificate from an existing PKI made by this script:
#       DIR/devices/NAME.{crt,key} or DIR/users/NAME.{crt,key}, CN=NAME,
#       one OU per group. ENDDATE (YYYYMMDDHHMMSSZ, UTC) sets notAfter, e.g.
#       a certificate that expires in a minute; the default is 825 days.
#   mkpki.sh revoke DIR {device|user} NAME [REASON]
#       Revoke DIR/devices/NAME.crt or DIR/users/NAME.crt in its CA's
#       database (`openssl ca -revoke`, REASON default keyCompromise) and
#       publish a new CRL (`openssl ca -gencrl`) as DIR/device-ca.crl or
#       DIR/user-ca.crl. The new CRL replaces the old file atomically
#       (rename), so a server re-reading it never sees half a file. A
#       running ztvpn-server picks it up at its next reload (SIGHUP).
#
# All keys are ECDSA P-256 (PKCS#8 PEM), private keys are mode 0600.
# Subject: O=ztvpn demo, OU=<group> (one per group), CN=<name>.
#
# Layout of DIR:
#   server-ca.crt              trust anchor for clients (server_ca)
#   device-ca.crt              trust anchor for device certificates (device_ca)
#   user-ca.crt                trust anchor for user certificates (user_ca)
#   device-ca.crl user-ca.crl  current CRLs (PEM), initially empty, 30 days
#   server.crt server.key      gateway: CN=gw.corp.example,
#                              SAN DNS:gw.corp.example, EKU serverAuth
#   devices/laptop-042.crt/.key   device CA, CN=laptop-042, OU=managed
#   devices/laptop-077.crt/.key   device CA, CN=laptop-077, OU=byod
#   users/alice.crt/.key          user CA, CN=alice, OU=engineering
#   users/bob.crt/.key            user CA, CN=bob, OU=sales
#   bad/                       material for rejection tests:
#     device-expired.crt/.key       device CA, CN=laptop-013, OU=managed,
#                                   valid 2020-01-01 .. 2020-02-01
#     user-expired.crt/.key         user CA, CN=carol, OU=engineering,
#                                   valid 2020-01-01 .. 2020-02-01
#     rogue-ca.crt                  an unknown CA (trusted by nobody)
#     device-rogue.crt/.key         rogue CA, CN=laptop-666, OU=managed
#     user-rogue.crt/.key           rogue CA, CN=eve, OU=engineering
#     user-from-device-ca.crt/.key  device CA (!), CN=mallory, OU=engineering
#     device-from-user-ca.crt/.key  user CA (!), CN=laptop-999, OU=managed
#   ca/<name>/                 one openssl ca database per CA, for
#                              name in server-ca device-ca user-ca rogue-ca:
#     openssl.cnf  private/ca.key  index.txt  serial  crlnumber  newcerts/
#
# Revoking a device later (what `mkpki.sh revoke DIR device laptop-077` does):
#   openssl ca -config DIR/ca/device-ca/openssl.cnf \
#       -revoke DIR/devices/laptop-077.crt -crl_reason keyCompromise
#   openssl ca -config DIR/ca/device-ca/openssl.cnf -gencrl -out DIR/device-ca.crl
# (The openssl.cnf files contain DIR's absolute path: move DIR, remake it.)
set -euo pipefail

prog=${0##*/}

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage() {
	echo "usage: $prog DIR" >&2
	echo "       $prog issue DIR {device|user} NAME [GROUP[,GROUP...]] [ENDDATE]" >&2
	echo "       $prog revoke DIR {device|user} NAME [REASON]" >&2
	exit 2
}

command -v openssl >/dev/null || die "openssl is not installed"

# newkey FILE: a fresh ECDSA P-256 private key, mode 0600 from the start.
newkey() {
	(umask 077 && openssl genpkey -algorithm EC \
		-pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve \
		-out "$1" 2>/dev/null) || die "cannot create key $1"
	chmod 0600 "$1"
}

# subject NAME GROUPS: "/O=ztvpn demo/OU=g1/OU=g2/CN=NAME"
subject() {
	local name=$1 groups=${2:-} s="/O=ztvpn demo" g
	local -a list=()
	if [[ -n $groups ]]; then
		IFS=, read -r -a list <<<"$groups"
	fi
	for g in "${list[@]}"; do
		s+="/OU=$g"
	done
	printf '%s/CN=%s' "$s" "$name"
}

# write_ca_cnf CA: the openssl configuration of one CA database.
write_ca_cnf() {
	local ca=$1 d="$DIR/ca/$1"
	cat >"$d/openssl.cnf" <<EOF
# openssl ca configuration for the ztvpn demo $ca (made by mkpki.sh).
[ ca ]
default_ca = CA_default

[ CA_default ]
dir              = $d
database         = \$dir/index.txt
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
new_certs_dir    = \$dir/newcerts
certificate      = $DIR/$ca.crt
private_key      = \$dir/private/ca.key
default_md       = sha256
default_days     = 825
default_crl_days = 30
crl_extensions   = crl_ext
policy           = policy_any
unique_subject   = no
preserve         = yes
copy_extensions  = none
email_in_dn      = no

[ policy_any ]
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied

[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused

[ ext_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ ext_server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName         = DNS:gw.corp.example

[ ext_client ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer

[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
}

# make_ca CA "Common Name": key, database and self-signed CA certificate
# (issued with `openssl ca -selfsign` so it is in its own database too).
make_ca() {
	local ca=$1 cn=$2 d="$DIR/ca/$1"
	mkdir -p "$d/newcerts" "$d/private"
	chmod 0700 "$d/private"
	: >"$d/index.txt"
	echo 1000 >"$d/serial"
	echo 1000 >"$d/crlnumber"
	write_ca_cnf "$ca"
	newkey "$d/private/ca.key"
	openssl req -new -config "$d/openssl.cnf" -key "$d/private/ca.key" \
		-subj "/O=ztvpn demo/CN=$cn" -out "$d/ca.csr" 2>/dev/null ||
		die "$ca: cannot create request"
	# The CA is backdated to 2019 so that the expired test certificates
	# (2020) were issued while it was valid.
	openssl ca -batch -notext -selfsign -config "$d/openssl.cnf" \
		-keyfile "$d/private/ca.key" -extensions ext_ca \
		-startdate 20190101000000Z -enddate 20391231235959Z \
		-in "$d/ca.csr" -out "$DIR/$ca.crt" 2>"$d/last.log" ||
		{ cat "$d/last.log" >&2; die "$ca: cannot self-sign"; }
	rm -f "$d/ca.csr"
}

# issue CA EXT OUT NAME GROUPS [STARTDATE ENDDATE]: OUT.key and OUT.crt
# (OUT without extension), CN=NAME, OU=each group.
issue() {
	local ca=$1 ext=$2 out=$3 name=$4 groups=$5 start=${6:-} end=${7:-}
	local d="$DIR/ca/$ca"
	local -a dates=()
	[[ -n $start ]] && dates+=(-startdate "$start")
	[[ -n $end ]] && dates+=(-enddate "$end")
	newkey "$out.key"
	openssl req -new -config "$d/openssl.cnf" -key "$out.key" \
		-subj "$(subject "$name" "$groups")" -out "$out.csr" 2>/dev/null ||
		die "$out: cannot create request"
	openssl ca -batch -notext -config "$d/openssl.cnf" \
		-extensions "$ext" "${dates[@]}" \
		-in "$out.csr" -out "$out.crt" 2>"$d/last.log" ||
		{ cat "$d/last.log" >&2; die "$out: $ca cannot issue"; }
	rm -f "$out.csr"
}

# gencrl CA: publish CA's current CRL as DIR/CA.crl, replacing the old one
# by a rename so that a reader sees either the old or the new file.
gencrl() {
	local ca=$1
	openssl ca -gencrl -config "$DIR/ca/$ca/openssl.cnf" \
		-out "$DIR/$ca.crl.new" 2>"$DIR/ca/$ca/last.log" ||
		{ cat "$DIR/ca/$ca/last.log" >&2; die "$ca: cannot make CRL"; }
	mv -f "$DIR/$ca.crl.new" "$DIR/$ca.crl"
}

absdir() {
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

# kind_ca KIND NAME: set ca and sub for a device or user certificate NAME
# of the PKI in $DIR, after checking both.
kind_ca() {
	case $1 in
	device) ca=device-ca sub=devices ;;
	user) ca=user-ca sub=users ;;
	*) usage ;;
	esac
	[[ -f $DIR/ca/$ca/openssl.cnf ]] || die "$DIR is not a PKI made by $prog"
	[[ $2 =~ ^[A-Za-z0-9._-]+$ ]] || die "bad name: $2"
}

cmd_issue() {
	[[ $# -ge 3 && $# -le 5 ]] || usage
	DIR=$(absdir "$1")
	local kind=$2 name=$3 groups=${4:-} end=${5:-} ca sub
	kind_ca "$kind" "$name"
	[[ -e $DIR/$sub/$name.crt ]] && die "$DIR/$sub/$name.crt exists"
	issue "$ca" ext_client "$DIR/$sub/$name" "$name" "$groups" "" "$end"
	echo "$DIR/$sub/$name.crt"
}

cmd_revoke() {
	[[ $# -ge 3 && $# -le 4 ]] || usage
	DIR=$(absdir "$1")
	local kind=$2 name=$3 reason=${4:-keyCompromise} ca sub
	kind_ca "$kind" "$name"
	[[ -f $DIR/$sub/$name.crt ]] || die "no certificate $DIR/$sub/$name.crt"
	openssl ca -config "$DIR/ca/$ca/openssl.cnf" -revoke "$DIR/$sub/$name.crt" \
		-crl_reason "$reason" 2>"$DIR/ca/$ca/last.log" ||
		{ cat "$DIR/ca/$ca/last.log" >&2; die "$DIR/$sub/$name.crt: $ca cannot revoke"; }
	gencrl "$ca"
	rm -f "$DIR/ca/$ca/last.log"
	echo "$DIR/$ca.crl"
}

cmd_create() {
	[[ $# -eq 1 ]] || usage
	if [[ -e $1 && ! -d $1 ]]; then
		die "$1 exists and is not a directory"
	fi
	if [[ -d $1 ]] && [[ -n $(ls -A "$1") ]]; then
		die "$1 is not empty; refusing to overwrite"
	fi
	DIR=$(absdir "$1")
	mkdir -p "$DIR/devices" "$DIR/users" "$DIR/bad" "$DIR/ca"
	chmod 0700 "$DIR/ca"

	make_ca server-ca "ztvpn demo server CA"
	make_ca device-ca "ztvpn demo device CA"
	make_ca user-ca "ztvpn demo user CA"
	make_ca rogue-ca "ztvpn demo rogue CA"
	mv "$DIR/rogue-ca.crt" "$DIR/bad/rogue-ca.crt"
	sed -i "s|^certificate *=.*|certificate      = $DIR/bad/rogue-ca.crt|" \
		"$DIR/ca/rogue-ca/openssl.cnf"

	issue server-ca ext_server "$DIR/server" gw.corp.example ""

	issue device-ca ext_client "$DIR/devices/laptop-042" laptop-042 managed
	issue device-ca ext_client "$DIR/devices/laptop-077" laptop-077 byod
	issue user-ca ext_client "$DIR/users/alice" alice engineering
	issue user-ca ext_client "$DIR/users/bob" bob sales

	issue device-ca ext_client "$DIR/bad/device-expired" laptop-013 managed \
		20200101000000Z 20200201000000Z
	issue user-ca ext_client "$DIR/bad/user-expired" carol engineering \
		20200101000000Z 20200201000000Z
	issue rogue-ca ext_client "$DIR/bad/device-rogue" laptop-666 managed
	issue rogue-ca ext_client "$DIR/bad/user-rogue" eve engineering
	issue device-ca ext_client "$DIR/bad/user-from-device-ca" mallory engineering
	issue user-ca ext_client "$DIR/bad/device-from-user-ca" laptop-999 managed

	gencrl device-ca
	gencrl user-ca
	rm -f "$DIR"/ca/*/last.log
	echo "$prog: PKI created in $DIR"
}

case ${1:-} in
"" | -h | --help) usage ;;
issue)
	shift
	cmd_issue "$@"
	;;
revoke)
	shift
	cmd_revoke "$@"
	;;
*) cmd_create "$@" ;;
esac
