#!/bin/bash
# mkpki-tool.sh: the test PKI of mkpki.sh, made with ztvpn-pki alone (no
# openssl CLI). Same command line, and the same files where the two
# overlap, so every test and configuration works with either:
#
#   mkpki-tool.sh DIR
#   mkpki-tool.sh issue DIR {device|user} NAME [GROUP[,GROUP...]] [ENDDATE]
#   mkpki-tool.sh revoke DIR {device|user} NAME [REASON]
#
# (see mkpki.sh for what each does). The program is $ZTVPN_PKI, by default
# $ZT_BUILD/common/pki/ztvpn-pki (ZT_BUILD defaults to <repo>/build).
#
# Layout of DIR: what mkpki.sh makes (server-ca.crt device-ca.crt
# user-ca.crt, device-ca.crl user-ca.crl, server.crt/.key for
# gw.corp.example, devices/laptop-042 and laptop-077, users/alice and bob,
# and the same bad/ material with the same subjects), plus what ztvpn-pki
# keeps (common/pki/README.md): server-ca.crl, servers/gw.corp.example.*,
# ca/<server-ca|device-ca|user-ca>/{ca.key,index,crlnumber}. Instead of
# mkpki.sh's openssl ca databases and ca/rogue-ca, the rogue CA is a
# second ztvpn-pki directory in ca/rogue-ca (organization "ztvpn demo
# rogue"; its device CA is bad/rogue-ca.crt and issued both rogue
# certificates, so their O= is "ztvpn demo rogue").
#
# The bad/ material comes from the ordinary commands: an expired certificate
# is one with --not-before/--not-after in 2020 (the CA need not be older:
# verification checks each certificate's dates against the current time);
# a "user certificate from the device CA" is a device certificate named
# mallory, moved to bad/; likewise the other way round. They stay in their
# CA's index under those names.
set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
PKI=${ZTVPN_PKI:-${ZT_BUILD:-$repo/build}/common/pki/ztvpn-pki}
ORG="ztvpn demo"

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

[[ -x $PKI ]] || die "no ztvpn-pki at $PKI (build it, or set ZTVPN_PKI or ZT_BUILD)"

pki() {
	"$PKI" -d "$DIR" "$@" >/dev/null || die "ztvpn-pki -d $DIR $* failed"
}

# group_opts GROUPS: "a,b" -> --group a --group b (in the array opts).
group_opts() {
	local g
	local -a list=()
	opts=()
	[[ -n ${1:-} ]] && IFS=, read -r -a list <<<"$1"
	for g in "${list[@]}"; do
		opts+=(--group "$g")
	done
}

# move_to_bad SUBDIR NAME BADNAME: SUBDIR/NAME.{crt,key} -> bad/BADNAME.*
move_to_bad() {
	mv "$DIR/$1/$2.crt" "$DIR/bad/$3.crt"
	mv "$DIR/$1/$2.key" "$DIR/bad/$3.key"
}

kind_check() {
	[[ $1 == device || $1 == user ]] || usage
	[[ -f $DIR/ca/$1-ca/index ]] || die "$DIR is not a PKI made by $prog"
}

cmd_issue() {
	[[ $# -ge 3 && $# -le 5 ]] || usage
	DIR=$1
	local kind=$2 name=$3 end=${5:-}
	local -a opts
	kind_check "$kind"
	group_opts "${4:-}"
	[[ -n $end ]] && opts+=(--not-after "$end")
	"$PKI" -d "$DIR" "$kind" "$name" "${opts[@]}" || die "cannot issue $kind $name"
}

cmd_revoke() {
	[[ $# -ge 3 && $# -le 4 ]] || usage
	DIR=$1
	local kind=$2 name=$3 reason=${4:-keyCompromise}
	kind_check "$kind"
	"$PKI" -d "$DIR" revoke "$kind" "$name" --reason "$reason" || die "cannot revoke $kind $name"
}

cmd_create() {
	[[ $# -eq 1 ]] || usage
	if [[ -e $1 && ! -d $1 ]]; then
		die "$1 exists and is not a directory"
	fi
	if [[ -d $1 ]] && [[ -n $(ls -A "$1") ]]; then
		die "$1 is not empty; refusing to overwrite"
	fi
	mkdir -p "$1"
	DIR=$(cd "$1" && pwd -P)
	local -a opts

	pki init --org "$ORG"
	pki server gw.corp.example
	pki device laptop-042 --group managed
	pki device laptop-077 --group byod
	pki user alice --group engineering
	pki user bob --group sales

	mkdir -p "$DIR/bad"
	opts=(--not-before 20200101000000Z --not-after 20200201000000Z)
	pki device laptop-013 --group managed "${opts[@]}"
	move_to_bad devices laptop-013 device-expired
	pki user carol --group engineering "${opts[@]}"
	move_to_bad users carol user-expired
	pki device mallory --group engineering
	move_to_bad devices mallory user-from-device-ca
	pki user laptop-999 --group managed
	move_to_bad users laptop-999 device-from-user-ca

	local top=$DIR
	# A CA name of its own: with the device CA's name, a verifier would
	# find the real device CA as the issuer and report a bad signature
	# rather than an unknown CA.
	DIR=$top/ca/rogue-ca
	pki init --org "$ORG rogue"
	pki device laptop-666 --group managed
	pki device eve --group engineering
	DIR=$top
	cp "$DIR/ca/rogue-ca/device-ca.crt" "$DIR/bad/rogue-ca.crt"
	move_to_bad ca/rogue-ca/devices laptop-666 device-rogue
	move_to_bad ca/rogue-ca/devices eve user-rogue
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
