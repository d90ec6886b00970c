#!/bin/bash
# Privilege separation and the seccomp sandbox of ztvpn-server, on a live
# concentrator: while alice's session carries traffic, the network process
# (the server's only child) runs as the ztvpn account with no capabilities,
# no new privileges and a seccomp filter, and the root supervisor holds no
# socket and no TUN device; reload and ztvpn-ctl still work. A forbidden
# system call injected into the network process with gdb kills only that
# process with SIGSYS, the supervisor names the call and exits 1, the client
# keeps retrying, and nothing is left behind. `sandbox = false;` is one root
# process again, and an unknown `user` is a configuration error.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init sandbox
require_bins server client "$CTL_BIN"
command -v gdb >/dev/null || bail "gdb is missing: run packaging/install-deps.sh"
getent passwd ztvpn >/dev/null || bail "no ztvpn account: run packaging/install-deps.sh"
ZT_UID=$(id -u ztvpn)
ZT_GID=$(id -g ztvpn)
zt_pki
topo_up 1

SOCK=$ZT_TMP/gw/server.sock
write_server_conf "$ZT_TMP/gw/server.conf" "control_socket = \"$SOCK\";"
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"

# status_is PID KEY VALUE: the KEY: line of /proc/PID/status is VALUE
# (tabs between the fields, as the kernel writes them).
status_is() {
	local v
	v=$(sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" 2>/dev/null) || return 1
	[[ $v == "$3" ]]
}

# four_times X: "X<tab>X<tab>X<tab>X", the real/effective/saved/fs ids.
four_times() { printf '%s\t%s\t%s\t%s' "$1" "$1" "$1" "$1"; }

# children PID: the PIDs of PID's children.
children() { cat "/proc/$1/task/$1/children" 2>/dev/null || true; }

# holds_no_socket_or_tun PID: none of PID's descriptors is a socket or the
# TUN device.
holds_no_socket_or_tun() {
	local fd t
	for fd in "/proc/$1/fd/"*; do
		t=$(readlink "$fd") || continue
		[[ $t == socket:* || $t == /dev/net/tun ]] && return 1
	done
	return 0
}

# status_shows_sandbox: `ztvpn-ctl status` answers with the sandbox line.
status_shows_sandbox() {
	timeout -k 3 10 "$CTL_BIN" -s "$SOCK" status >"$ZT_TMP/status.out" 2>&1 &&
		grep -qx "sandbox: user ztvpn (uid $ZT_UID), seccomp on" "$ZT_TMP/status.out"
}

reload_by_signal() { server_reload server && reload_says "result=ok"; }
reload_by_ctl() { ctl_reload "$SOCK" && [[ $CTL_STATUS == 0 ]] && reload_says "result=ok"; }

# exits_with NAME CODE: NAME ends within 10 s with status CODE.
exits_with() { bg_wait "$1" 10 && [[ $BG_STATUS == "$2" ]]; }

# back_without_sandbox: alice is admitted again and her traffic flows.
back_without_sandbox() {
	wait_for 20 has_line "ztvpn-server: info: audit event=admit" "$(bg_log plain)" &&
		wait_for 10 ping_ok "$NS_L1" "$CORP_ADDR"
}

must "the sandboxed server starts" start_server
must "alice's tunnel comes up" start_client alice "$NS_L1" "$ZT_TMP/laptop1/client.conf"
check "traffic flows: alice pings corp" ping_ok "$NS_L1" "$CORP_ADDR"

PARENT=$(bg_pid server)
read -r CHILD EXTRA < <(children "$PARENT"; echo) || true
must "the server has exactly one child, the network process" \
	test -n "${CHILD:-}" -a -z "${EXTRA:-}"
log "supervisor $PARENT, network process $CHILD"

check "network process: Uid all ztvpn's ($ZT_UID)" status_is "$CHILD" Uid "$(four_times "$ZT_UID")"
check "network process: Gid all ztvpn's ($ZT_GID)" status_is "$CHILD" Gid "$(four_times "$ZT_GID")"
check "network process: no supplementary groups" status_is "$CHILD" Groups ""
for cap in CapInh CapPrm CapEff CapAmb; do
	check "network process: $cap is 0" status_is "$CHILD" "$cap" 0000000000000000
done
check "network process: NoNewPrivs 1" status_is "$CHILD" NoNewPrivs 1
check "network process: Seccomp 2 (filter)" status_is "$CHILD" Seccomp 2
check "supervisor: runs as root" status_is "$PARENT" Uid "$(four_times 0)"
check "supervisor: holds no socket and no TUN device" holds_no_socket_or_tun "$PARENT"
check "the network process holds the TUN device" fails holds_no_socket_or_tun "$CHILD"

check "ztvpn-ctl status works and shows the sandbox" status_shows_sandbox
check "a reload (SIGHUP) takes effect in the sandbox" reload_by_signal
check "a reload through ztvpn-ctl takes effect in the sandbox" reload_by_ctl
check "traffic still flows after the reloads" ping_ok "$NS_L1" "$CORP_ADDR"
check "no system call was refused so far" fails has_line 'seccomp: forbidden' "$(bg_log server)"

# A compromised network process trying something the allow-list forbids:
# mount(2) (165 on x86_64), injected with gdb into the live process.
CONNECTS=$(count 'connecting to ' "$(bg_log alice)")
timeout -k 5 60 gdb -p "$CHILD" -batch -ex 'call (long)syscall(165, 0, 0, 0, 0, 0)' \
	>"$ZT_TMP/gdb.out" 2>&1 || true
must "the supervisor exits once the network process is killed" bg_wait server 10
check "the supervisor exits with status 1 (got $BG_STATUS)" test "$BG_STATUS" = 1
check "the network process reported the call itself" \
	has_line '^seccomp: forbidden system call 165$' "$(bg_log server)"
check "the supervisor names the call and the sandbox" \
	has_line "ztvpn-server: error: network process \\(pid $CHILD\\) made a forbidden system call \\(165, mount\\) and was killed by the seccomp sandbox" \
	"$(bg_log server)"
check "the network process is gone" test ! -e "/proc/$CHILD"
check "the TUN device went with it" fails quiet ip -n "$NS_GW" link show ztvpn0
check "the supervisor removed the control socket" test ! -e "$SOCK"
check "the client is unaffected: still running" bg_alive alice
check "the client notices the end and keeps retrying" \
	wait_for 10 at_least $((CONNECTS + 1)) 'connecting to ' "$(bg_log alice)"
bg_forget server

# sandbox = false: one root process, as before; the client comes back.
write_server_conf "$ZT_TMP/gw/nosandbox.conf" "sandbox = false;"
must "the server starts with sandbox = false" start_server plain "$ZT_TMP/gw/nosandbox.conf"
check "it warns that it runs without the sandbox" \
	has_line 'ztvpn-server: warning: sandbox = false' "$(bg_log plain)"
PLAIN=$(bg_pid plain)
check "sandbox = false: no child process" test -z "$(children "$PLAIN")"
check "sandbox = false: the one process is root" status_is "$PLAIN" Uid "$(four_times 0)"
check "sandbox = false: no seccomp filter" status_is "$PLAIN" Seccomp 0
check "sandbox = false: alice is back and traffic flows" back_without_sandbox
bg_stop plain
check "sandbox = false: exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0
bg_forget plain

# Configuration errors: an unknown account, and a file a reload re-reads
# that the account cannot read.
write_server_conf "$ZT_TMP/gw/nouser.conf" 'user = "nosuchuser";'
LINE=$(grep -n '^user = ' "$ZT_TMP/gw/nouser.conf" | cut -d: -f1)
RC=0
"$SERVER_BIN" -n -c "$ZT_TMP/gw/nouser.conf" >"$ZT_TMP/nouser.out" 2>&1 || RC=$?
check "user = \"nosuchuser\": -n exits 2 (got $RC)" test "$RC" = 2
check "user = \"nosuchuser\": FILE:LINE error" \
	grep -qx "$ZT_TMP/gw/nouser.conf:$LINE: user \"nosuchuser\": no such account" "$ZT_TMP/nouser.out"
start_bg nouser "$NS_GW" "$SERVER_BIN" -c "$ZT_TMP/gw/nouser.conf"
check "user = \"nosuchuser\": the server exits 2 at start" exits_with nouser 2

cp "$ZT_PKI/user-ca.crt" "$ZT_TMP/gw/private-user-ca.crt"
chmod 0600 "$ZT_TMP/gw/private-user-ca.crt"
sed 's|user_ca = .*|user_ca = "private-user-ca.crt";|' "$ZT_TMP/gw/server.conf" \
	>"$ZT_TMP/gw/unreadable.conf"
start_bg unreadable "$NS_GW" "$SERVER_BIN" -c "$ZT_TMP/gw/unreadable.conf"
check "a CA only root can read: the server exits 2 before serving" exits_with unreadable 2
check "... saying which file and why" \
	has_line "private-user-ca.crt: not readable by user ztvpn: reloads would fail" \
	"$(bg_log unreadable)"

zt_finish
