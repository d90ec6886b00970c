#!/bin/bash
# Installs every package ztvpn needs to build, test and run its demo on
# Debian 12, and nothing when all of them are already there (idempotent and
# quiet then). Run as root.
#
#   packaging/install-deps.sh --bench   # instead: only the VPNs that
#                                       # tests/bench/compare.sh measures
set -euo pipefail

PACKAGES=(
	# build
	build-essential cmake pkg-config clang libclang-rt-14-dev
	android-libboringssl-dev android-boringssl
	libnl-3-dev libnl-route-3-dev libconfig-dev libcmocka-dev libseccomp-dev
	# tests, demo and benchmarks
	openssl iproute2 nftables iputils-ping iperf3 socat curl python3 procps
	openvpn # tests/bench/openvpn_handshakes.sh (comparison only)
	shellcheck gdb
	# Debian packages (packaging/build-deb.sh) and their test
	dpkg-dev debhelper lintian man-db groff-base systemd
)

# The peers of tests/bench/compare.sh: only with --bench, never for the
# build or the tests.
BENCH_PACKAGES=(openvpn wireguard-go wireguard-tools ocserv openconnect iperf3 python3 procps)
bench=0
case ${1:-} in
'') ;;
--bench) bench=1 PACKAGES=("${BENCH_PACKAGES[@]}") ;;
*) echo "usage: $0 [--bench]" >&2; exit 2 ;;
esac

# Debian's ocserv package enables a system-wide server (port 443, PAM) where
# systemd runs; the benchmark starts its own, so one it just installed is
# stopped and disabled again.
quiet_ocserv() {
	[ "$bench" = 1 ] && [ -d /run/systemd/system ] || return 0
	case " $* " in *" ocserv "*) ;; *) return 0 ;; esac
	systemctl disable --now ocserv.socket ocserv.service >/dev/null 2>&1 || true
}

# The account of the server's network-facing process (README.md, "Privilege
# separation and sandbox"); the Debian package's postinst makes it too.
ensure_account() {
	getent passwd ztvpn >/dev/null && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: the system user ztvpn is missing; run as root" >&2
		exit 1
	fi
	echo "install-deps: creating the system user ztvpn"
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --user-group ztvpn
}

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	ensure_account
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
quiet_ocserv "${missing[@]}"
ensure_account
