#!/bin/bash
# test_deb.sh: builds the Debian packages with packaging/build-deb.sh, checks
# what they hold (binaries, units, man pages, examples, copyright and
# changelog) and what they depend on, installs them for real with dpkg -i,
# checks the installed result (the ztvpn account, /etc/ztvpn, the units with
# systemd-analyze verify, the BoringSSL RUNPATH, the versions, the man pages,
# the examples with a test PKI, the programs with exactly their units'
# capabilities), runs lintian on them and purges them again.
#
# Needs root (dpkg -i); exits 77 (skipped) otherwise, and when a ztvpn
# package is already installed (the test would replace and purge it). The
# machine is left as it was: the packages are purged in a trap, and the
# ztvpn account, which a purge keeps by design, is removed when the test
# created it.
# shellcheck disable=SC2317  # cleanup and verify_unit run from trap and check
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
pkgs=(ztvpn-common ztvpn-server ztvpn-client)

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (dpkg -i)"
	exit 77
fi
for p in "${pkgs[@]}"; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$'; then
		echo "SKIP: $p is installed on this machine; this test would replace and purge it"
		exit 77
	fi
done

fails=0
ok() { echo "ok: $*"; }
bad() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}

version=$(sed -nE 's/^project\(ztvpn VERSION ([0-9.]+).*/\1/p' "$top/CMakeLists.txt")
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
bssl_dir=/usr/lib/$multiarch/android
user_existed=0
getent passwd ztvpn >/dev/null && user_existed=1
group_existed=0
getent group ztvpn >/dev/null && group_existed=1
installed=0
netns=""
pids=()

work=$(mktemp -d /tmp/ztvpn-test-deb.XXXXXX)
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$netns" ]; then
		ip netns del "$netns" 2>/dev/null || true
	fi
	if [ "$installed" = 1 ]; then
		dpkg --purge "${pkgs[@]}" >/dev/null 2>&1 || true
	fi
	if [ "$user_existed" = 0 ] && getent passwd ztvpn >/dev/null; then
		userdel ztvpn 2>/dev/null || true
	fi
	if [ "$group_existed" = 0 ] && getent group ztvpn >/dev/null; then
		groupdel ztvpn 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# --- build -------------------------------------------------------------
out=$work/out
start=$SECONDS
if ! bash "$top/packaging/build-deb.sh" "$out" >"$work/build.out" 2>&1; then
	cat "$work/build.out"
	echo "FAIL: packaging/build-deb.sh"
	exit 1
fi
ok "packages built in $((SECONDS - start)) s"
for f in "ztvpn_$version.dsc" "ztvpn_$version.tar.xz" "ztvpn_${version}_$arch.buildinfo" \
	"ztvpn_${version}_$arch.changes"; do
	check "source package file $f" test -s "$out/$f"
done
deb() { echo "$out/${1}_${version}_$arch.deb"; }
for p in "${pkgs[@]}"; do
	check "binary package $p, version $version" \
		test "$(dpkg-deb -f "$(deb "$p")" Version 2>/dev/null)" = "$version"
done

# Debian policy, as lintian checks it (pedantic). The overrides in
# packaging/debian/*.lintian-overrides each say why.
if lintian --info --pedantic "$out/ztvpn_${version}_$arch.changes" >"$work/lintian.out" 2>&1 &&
	! grep -qE '^[EWIPX]: ' "$work/lintian.out"; then
	ok "lintian --pedantic: no tag"
else
	cat "$work/lintian.out"
	bad "lintian"
fi

# --- contents: exactly these files (directories aside) --------------------
declare -A expect
expect[ztvpn-common]="./usr/bin/ztvpn-pki
./usr/sbin/ztvpn-ctl
./usr/share/doc/ztvpn-common/changelog.gz
./usr/share/doc/ztvpn-common/copyright
./usr/share/lintian/overrides/ztvpn-common
./usr/share/man/man1/ztvpn-pki.1.gz
./usr/share/man/man5/ztvpn.conf.5.gz
./usr/share/man/man8/ztvpn-ctl.8.gz"
expect[ztvpn-server]="./lib/systemd/system/ztvpn-server.service
./usr/sbin/ztvpn-server
./usr/share/doc/ztvpn-server/changelog.gz
./usr/share/doc/ztvpn-server/copyright
./usr/share/doc/ztvpn-server/examples/policy.conf
./usr/share/doc/ztvpn-server/examples/server.conf
./usr/share/lintian/overrides/ztvpn-server
./usr/share/man/man5/ztvpn-policy.5.gz
./usr/share/man/man8/ztvpn-server.8.gz"
expect[ztvpn-client]="./lib/systemd/system/ztvpn-client@.service
./usr/sbin/ztvpn-client
./usr/share/doc/ztvpn-client/changelog.gz
./usr/share/doc/ztvpn-client/copyright
./usr/share/doc/ztvpn-client/examples/client.conf
./usr/share/lintian/overrides/ztvpn-client
./usr/share/man/man8/ztvpn-client.8.gz"
for p in "${pkgs[@]}"; do
	got=$(dpkg-deb -c "$(deb "$p")" | awk '$1 !~ /^d/ {print $6}' | sort)
	want=$(sort <<<"${expect[$p]}")
	if [ "$got" = "$want" ]; then
		ok "$p holds exactly its $(wc -l <<<"$want") files"
	else
		bad "$p contents differ (< expected, > found):"
		diff <(echo "$want") <(echo "$got") || true
	fi
done
listing=$(dpkg-deb -c "$(deb ztvpn-common)")
check "ztvpn-common ships /etc/ztvpn/ as root:root 0750 (the group comes at configure)" \
	grep -qE '^drwxr-x--- root/root .* \./etc/ztvpn/$' <<<"$listing"
for p in "${pkgs[@]}"; do
	check "$p ships no conffile and nothing secret in /etc" \
		bash -c "! dpkg-deb -c '$(deb "$p")' | awk '\$1 !~ /^d/ {print \$6}' | grep -q '^\./etc/'"
done

# --- dependencies -----------------------------------------------------------
for p in "${pkgs[@]}"; do
	dep=$(dpkg-deb -f "$(deb "$p")" Depends)
	echo "   $p Depends: $dep"
	check "$p depends on android-libboringssl (BoringSSL, found by dpkg-shlibdeps)" \
		grep -q 'android-libboringssl' <<<"$dep"
	check "$p does not depend on OpenSSL 3's libssl3" bash -c "! grep -q 'libssl3' <<<'$dep'"
done
for p in ztvpn-server ztvpn-client; do
	dep=$(dpkg-deb -f "$(deb "$p")" Depends)
	check "$p depends on ztvpn-common (= $version)" grep -qF "ztvpn-common (= $version)" <<<"$dep"
	check "$p depends on libnl and libconfig" \
		bash -c "grep -q libnl-route-3 <<<'$dep' && grep -q libconfig <<<'$dep'"
done
check "ztvpn-server depends on adduser (its postinst makes the account)" \
	grep -qw adduser <<<"$(dpkg-deb -f "$(deb ztvpn-server)" Depends)"

# --- install ----------------------------------------------------------------
installed=1
if ! dpkg -i "$(deb ztvpn-common)" "$(deb ztvpn-server)" "$(deb ztvpn-client)" \
	>"$work/install.out" 2>&1; then
	cat "$work/install.out"
	bad "dpkg -i"
	exit 1
fi
ok "dpkg -i of the three packages"

pw=$(getent passwd ztvpn || true)
check "account ztvpn exists" test -n "$pw"
IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
check "ztvpn is a system account (uid $uid < 1000)" test "${uid:-1000}" -lt 1000
check "ztvpn has no login shell ($shell)" \
	bash -c "[ '$shell' = /usr/sbin/nologin ] || [ '$shell' = /bin/false ]"
check "ztvpn's home is /nonexistent ($home)" test "$home" = /nonexistent
check "ztvpn's home was not created" test ! -e /nonexistent
check "group ztvpn exists" bash -c "getent group ztvpn >/dev/null"
check "/etc/ztvpn is root:ztvpn 0750 ($(stat -c '%U:%G %a' /etc/ztvpn))" \
	test "$(stat -c '%U:%G %a' /etc/ztvpn)" = "root:ztvpn 750"
check "ztvpn-server.service is enabled on install" \
	test -L /etc/systemd/system/multi-user.target.wants/ztvpn-server.service
check "no ztvpn-client@ instance is enabled on install" \
	bash -c "! ls /etc/systemd/system/multi-user.target.wants/ztvpn-client@* >/dev/null 2>&1"
# Reinstalling runs the postinst again: the account and the mode stay.
if dpkg -i "$(deb ztvpn-common)" "$(deb ztvpn-server)" >"$work/reinstall.out" 2>&1 &&
	[ "$(getent passwd ztvpn)" = "$pw" ] &&
	[ "$(stat -c '%U:%G %a' /etc/ztvpn)" = "root:ztvpn 750" ]; then
	ok "reinstalling keeps the account and /etc/ztvpn as they were"
else
	cat "$work/reinstall.out"
	bad "reinstalling changed the account or /etc/ztvpn"
fi

# --- units --------------------------------------------------------------------
units=/lib/systemd/system
verify_unit() { # verify_unit FILE: no complaint about our unit
	local log=$work/verify.log
	if ! systemd-analyze verify "$1" >"$log" 2>&1; then
		cat "$log"
		return 1
	fi
	# Complaints about units of the host (a container's missing ones) are not ours.
	if grep -E 'ztvpn' "$log"; then return 1; fi
	return 0
}
check "systemd-analyze verify ztvpn-server.service" verify_unit "$units/ztvpn-server.service"
# A template is verified through an instance of it.
mkdir -p "$work/units"
cp "$units/ztvpn-client@.service" "$work/units/ztvpn-client@corp.service"
check "systemd-analyze verify ztvpn-client@corp.service" verify_unit "$work/units/ztvpn-client@corp.service"
check "server unit: -n check before start, HUP reload, CAP_NET_ADMIN, ConditionPathExists" \
	bash -c "grep -q '^ExecStartPre=/usr/sbin/ztvpn-server -n -c /etc/ztvpn/server.conf$' $units/ztvpn-server.service &&
	         grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' $units/ztvpn-server.service &&
	         grep -q '^CapabilityBoundingSet=.*CAP_NET_ADMIN' $units/ztvpn-server.service &&
	         grep -q '^ConditionPathExists=/etc/ztvpn/server.conf$' $units/ztvpn-server.service"
check "client unit: /etc/ztvpn/%i.conf, no restart after exit 1 or 2" \
	bash -c "grep -q '^ExecStart=/usr/sbin/ztvpn-client -c /etc/ztvpn/%i.conf$' '$units/ztvpn-client@.service' &&
	         grep -q '^RestartPreventExitStatus=1 2$' '$units/ztvpn-client@.service'"

# --- binaries -------------------------------------------------------------------
bins=(/usr/sbin/ztvpn-server /usr/sbin/ztvpn-client /usr/sbin/ztvpn-ctl /usr/bin/ztvpn-pki)
for b in "${bins[@]}"; do
	name=${b##*/}
	rp=$(readelf -d "$b" | sed -nE 's/.*\((RUNPATH|RPATH)\).*\[(.*)\]/\2/p')
	check "$b keeps its RUNPATH $bssl_dir (found: ${rp:-none})" test "$rp" = "$bssl_dir"
	libs=$(ldd "$b" 2>&1 || true)
	check "$b loads BoringSSL's libcrypto from $bssl_dir and no OpenSSL 3" \
		bash -c "grep -q 'libcrypto.so.0 => $bssl_dir/libcrypto.so.0' <<<'$libs' &&
		         ! grep -q 'libssl.so.3\|libcrypto.so.3' <<<'$libs'"
	v=$("$b" -V 2>&1 || true)
	check "$name -V prints \"$name $version\" (got \"$v\")" test "$v" = "$name $version"
	v=$("$b" --version 2>&1 || true)
	check "$name --version prints \"$name $version\"" test "$v" = "$name $version"
done
v=$(ztvpn-ctl --version 2>&1 || true)
check "ztvpn-ctl --version (on PATH) prints the version" test "$v" = "ztvpn-ctl $version"
v=$(ztvpn-pki --version 2>&1 || true)
check "ztvpn-pki --version (on PATH) prints the version" test "$v" = "ztvpn-pki $version"

# --- man pages --------------------------------------------------------------------
for page in ztvpn-server.8 ztvpn-client.8 ztvpn-ctl.8 ztvpn-pki.1 ztvpn.conf.5 ztvpn-policy.5; do
	name=${page%.*}
	sec=${page##*.}
	path=$(man -w "$sec" "$name" 2>/dev/null || true)
	check "man -w $sec $name finds the installed page ($path)" \
		test "$path" = "/usr/share/man/man$sec/$page.gz"
	warn=$(zcat "/usr/share/man/man$sec/$page.gz" | groff -man -ww -z 2>&1 || true)
	check "$page: groff -man -ww reports nothing${warn:+: $warn}" test -z "$warn"
	check "$page: man -l renders it" \
		bash -c "MANWIDTH=80 man -l '/usr/share/man/man$sec/$page.gz' 2>/dev/null | grep -q '^NAME'"
done

# --- the examples, with a test PKI next to them ------------------------------------
ex=$work/examples
mkdir -p "$ex/server" "$ex/client"
if bash "$top/tests/pki/mkpki.sh" "$ex/pki" >"$work/pki.out" 2>&1; then
	cp -a "$ex/pki/." "$ex/server/"
	cp /usr/share/doc/ztvpn-server/examples/server.conf /usr/share/doc/ztvpn-server/examples/policy.conf \
		"$ex/server/"
	if /usr/sbin/ztvpn-server -n -c "$ex/server/server.conf" >"$work/n.out" 2>&1; then
		ok "installed example server.conf + policy.conf pass ztvpn-server -n: $(cat "$work/n.out")"
	else
		bad "ztvpn-server -n on the installed examples: $(cat "$work/n.out")"
	fi
	cp "$ex/pki/server-ca.crt" "$ex/client/"
	cp -p "$ex/pki/devices/laptop-042.crt" "$ex/client/device.crt"
	cp -p "$ex/pki/devices/laptop-042.key" "$ex/client/device.key"
	cp -p "$ex/pki/users/alice.crt" "$ex/client/alice.crt"
	cp -p "$ex/pki/users/alice.key" "$ex/client/alice.key"
	cp /usr/share/doc/ztvpn-client/examples/client.conf "$ex/client/corp.conf"
	if /usr/sbin/ztvpn-client -n -c "$ex/client/corp.conf" >"$work/n.out" 2>&1; then
		ok "installed example client.conf passes ztvpn-client -n: $(cat "$work/n.out")"
	else
		bad "ztvpn-client -n on the installed example: $(cat "$work/n.out")"
	fi
else
	cat "$work/pki.out"
	bad "tests/pki/mkpki.sh"
fi

# The installed ztvpn-pki makes a PKI that the installed server accepts.
pk=$work/toolpki
if ztvpn-pki -d "$pk" init >"$work/tool.out" 2>&1 &&
	ztvpn-pki -d "$pk" server gw.corp.example >>"$work/tool.out" 2>&1 &&
	ztvpn-pki -d "$pk" device laptop-042 --group managed >>"$work/tool.out" 2>&1 &&
	ztvpn-pki -d "$pk" list >>"$work/tool.out" 2>&1; then
	cp /usr/share/doc/ztvpn-server/examples/server.conf /usr/share/doc/ztvpn-server/examples/policy.conf "$pk/"
	if /usr/sbin/ztvpn-server -n -c "$pk/server.conf" >>"$work/tool.out" 2>&1; then
		ok "installed ztvpn-pki makes a PKI that the example server.conf accepts"
	else
		cat "$work/tool.out"
		bad "ztvpn-server -n with a ztvpn-pki PKI"
	fi
else
	cat "$work/tool.out"
	bad "installed ztvpn-pki init/server/device/list"
fi

# --- the units' capabilities are enough -------------------------------------------
# The installed server and client run as their units run them (root, with only
# the unit's CapabilityBoundingSet, no_new_privs), in a network namespace of
# this test with nothing but loopback: the server makes its TUN device and
# drops its network process to ztvpn, the client is admitted and gets its
# address and route, and both stop with 0 on SIGTERM (the server forwards it
# to its network process, which needs CAP_KILL).
unit_caps() { # unit_caps UNIT: the setpriv form of its CapabilityBoundingSet
	sed -nE 's/^CapabilityBoundingSet=//p' "$1" | tr ' ' '\n' | grep . |
		sed -E 's/^CAP_//' | tr '[:upper:]' '[:lower:]' | sed 's/^/+/' | paste -sd, -
}
# wait_for SECONDS COMMAND...: polls every 0.1 s.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
# stop PID: SIGTERM, then its exit status in $stopped (137 when it needed
# SIGKILL after 5 s).
stop() {
	kill -TERM "$1" 2>/dev/null || true
	if ! wait_for 5 bash -c "! kill -0 $1"; then
		kill -KILL "$1" 2>/dev/null || true
	fi
	stopped=0
	wait "$1" || stopped=$?
}
run=$work/run
scaps=$(unit_caps "$units/ztvpn-server.service")
ccaps=$(unit_caps "$units/ztvpn-client@.service")
if [ -d "$ex/pki" ] && command -v setpriv >/dev/null && ip netns add "zt-deb-$$" 2>/dev/null; then
	netns=zt-deb-$$
	ip -n "$netns" link set lo up
	mkdir -p "$run/client"
	cp -a "$ex/server/." "$run/"
	cp -a "$ex/client/." "$run/client/"
	sed -i -e 's|^listen = .*|listen = "127.0.0.1:8443";|' \
		-e 's|^udp_listen = .*|udp_listen = "127.0.0.1:8443";|' \
		-e "s|^control_socket = .*|control_socket = \"$run/server.sock\";|" "$run/server.conf"
	sed -i -e 's|^server = .*|server = "127.0.0.1:8443";|' -e 's|ztvpn0|ztdebc0|' \
		-e "s|^control_socket = .*|control_socket = \"$run/client.sock\";|" "$run/client/corp.conf"
	# The network process (user ztvpn) re-reads the policy and the CRLs.
	chmod 0755 "$work" "$run"
	chmod 0644 "$run/policy.conf" "$run"/*.crl
	ip netns exec "$netns" setpriv --bounding-set="-all,$scaps" --inh-caps=-all --no-new-privs \
		/usr/sbin/ztvpn-server -c "$run/server.conf" >"$work/server.log" 2>&1 &
	spid=$!
	pids+=("$spid")
	if wait_for 10 test -S "$run/server.sock" &&
		wait_for 5 grep -q 'network process' "$work/server.log"; then
		ok "server runs with the unit's capabilities ($scaps): $(grep -o 'network process.*' "$work/server.log")"
	else
		bad "server with the unit's capabilities ($scaps) did not start"
		cat "$work/server.log"
	fi
	ip netns exec "$netns" setpriv --bounding-set="-all,$ccaps" --inh-caps=-all --no-new-privs \
		/usr/sbin/ztvpn-client -c "$run/client/corp.conf" >"$work/client.log" 2>&1 &
	cpid=$!
	pids+=("$cpid")
	if wait_for 10 grep -q 'tunnel up' "$work/client.log" &&
		ip -n "$netns" route show dev ztdebc0 | grep -q '^198.51.100.0/24'; then
		ok "client runs with the unit's capabilities ($ccaps): $(grep -o 'tunnel up.*' "$work/client.log")"
	else
		bad "client with the unit's capabilities ($ccaps) did not bring the tunnel up"
		cat "$work/client.log"
	fi
	sessions=$(ip netns exec "$netns" ztvpn-ctl -s "$run/server.sock" sessions 2>&1 || true)
	check "installed ztvpn-ctl lists the session" grep -q 'alice *laptop-042' <<<"$sessions"
	on_udp() {
		ip netns exec "$netns" ztvpn-ctl -s "$run/server.sock" --json sessions 2>/dev/null |
			grep -q '"path":"udp"'
	}
	check "the installed programs move the session to the UDP data channel" wait_for 10 on_udp
	kill -HUP "$spid"
	check "SIGHUP reaches the network process (a reload is logged)" \
		wait_for 5 grep -q 'event=reload result=ok' "$work/server.log"
	stop "$cpid"
	check "client exits 0 on SIGTERM (status $stopped)" test "$stopped" = 0
	stop "$spid"
	check "server exits 0 on SIGTERM (status $stopped)" test "$stopped" = 0
	pids=()
	ip netns del "$netns"
	netns=""
else
	bad "cannot run the capability check (test PKI, setpriv or a network namespace missing)"
fi

# --- sizes ----------------------------------------------------------------------------
echo "package sizes:"
for f in "$out"/*.deb "$out"/*.tar.xz; do
	if [ "${f%.deb}" != "$f" ]; then
		printf '   %-45s %6s KiB file, %6s KiB installed\n' "${f##*/}" \
			"$(($(stat -c %s "$f") / 1024))" "$(dpkg-deb -f "$f" Installed-Size)"
	else
		printf '   %-45s %6s KiB file\n' "${f##*/}" "$(($(stat -c %s "$f") / 1024))"
	fi
done

# --- purge ----------------------------------------------------------------------------
if dpkg --purge "${pkgs[@]}" >"$work/purge.out" 2>&1; then
	installed=0
	ok "dpkg --purge of the three packages"
else
	cat "$work/purge.out"
	bad "dpkg --purge"
fi
for p in "${pkgs[@]}"; do
	check "$p is gone" bash -c "! dpkg-query -W -f='\${Status}' $p 2>/dev/null | grep -q installed"
done
for f in "${bins[@]}" "$units/ztvpn-server.service" "$units/ztvpn-client@.service" /etc/ztvpn \
	/etc/systemd/system/multi-user.target.wants/ztvpn-server.service; do
	check "$f removed by the purge" test ! -e "$f" -a ! -L "$f"
done
check "the account ztvpn stays after the purge (by design)" bash -c "getent passwd ztvpn >/dev/null"

echo
if [ "$fails" -eq 0 ]; then
	echo "PASS: Debian packages"
	exit 0
fi
echo "FAIL: $fails checks failed"
exit 1
