#!/bin/bash
# ztvpn-ctl against the control sockets of a real concentrator and client:
# sessions and status in text and JSON, the socket's mode and the refusal
# of non-root users, kill by id and by user (the killed client exits 1, the
# other keeps its traffic), the client's own socket, and hostile requests
# that get an error or a close while the server keeps serving.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init ctl
require_bins server client "$CTL_BIN"
zt_pki
topo_up 2

# The directories do not exist yet: the daemons make them (mode 0700).
SOCK=$ZT_TMP/gw-run/server.sock
CSOCK=$ZT_TMP/laptop1-run/client.sock
write_server_conf "$ZT_TMP/gw/server.conf" "control_socket = \"$SOCK\";"
write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice" gw.corp.example \
	"control_socket = \"$CSOCK\";"
write_client_conf "$ZT_TMP/laptop2/client.conf" \
	"$ZT_PKI/devices/laptop-077" "$ZT_PKI/users/bob"

CTL_RC=
# ctl NAME ARGS...: run ztvpn-ctl ARGS, bounded by 10 s. It needs no
# namespace: a unix socket is a file. stdout goes to $ZT_TMP/NAME.out,
# stderr to $ZT_TMP/NAME.log; CTL_RC = exit status.
ctl() {
	local name=$1
	shift
	CTL_RC=0
	timeout -k 3 10 "$CTL_BIN" "$@" >"$ZT_TMP/$name.out" 2>"$ZT_TMP/$name.log" || CTL_RC=$?
}

# rc_and CODE CMD...: the last ctl exited with CODE and CMD succeeds.
rc_and() { [[ $CTL_RC == "$1" ]] && "${@:2}"; }

# json NAME EXPR: $ZT_TMP/NAME.out is one JSON document d for which the
# Python expression EXPR is true.
json() {
	python3 -c 'import json, re, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$ZT_TMP/$1.out" "$2"
}

# out_has NAME REGEX / err_has NAME REGEX: a line of the output / stderr.
out_has() { grep -qE -- "$2" "$ZT_TMP/$1.out"; }
err_has() { grep -qE -- "$2" "$ZT_TMP/$1.log"; }

# lines_are NAME N: the output of ctl NAME has N lines.
lines_are() { [[ $(wc -l <"$ZT_TMP/$1.out") == "$2" ]]; }

# session_id NAME USER: the id of USER's session in the JSON listing NAME.
session_id() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print([s["id"] for s in d["sessions"] if s["user"] == sys.argv[2]][0])' "$ZT_TMP/$1.out" "$2"
}

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

must "server starts" start_server
slog=$(bg_log server)
must "alice on laptop-042 (laptop1) brings the tunnel up" \
	start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
must "bob on laptop-077 (laptop2) brings the tunnel up" \
	start_client client2 "$NS_L2" "$ZT_TMP/laptop2/client.conf"
check "alice pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3
check "bob pings corp" ping_ok "$NS_L2" "$CORP_ADDR" 3

# --- the socket itself ---------------------------------------------------------
check "server socket is a socket" test -S "$SOCK"
check "server socket has mode 0600 (got $(stat -c %a "$SOCK"))" \
	test "$(stat -c %a "$SOCK")" = 600
check "its directory was made with mode 0700 (got $(stat -c %a "${SOCK%/*}"))" \
	test "$(stat -c %a "${SOCK%/*}")" = 700
check "server socket is owned by root" test "$(stat -c %u "$SOCK")" = 0

# --- command line --------------------------------------------------------------
ctl version -V
check "ztvpn-ctl -V prints its version" rc_and 0 out_has version "^ztvpn-ctl [0-9]"
ctl help -h
check "ztvpn-ctl -h prints the usage" rc_and 0 out_has help "kill device NAME"
ctl badcmd -s "$SOCK" frobnicate
check "unknown command: exit 2 (got $CTL_RC)" rc_and 2 err_has badcmd "unknown command"
ctl badid -s "$SOCK" kill id 0
check "kill id 0 is refused locally: exit 2 (got $CTL_RC)" rc_and 2 err_has badid "bad session id"
ctl badarg -s "$SOCK" status now
check "status with an argument: exit 2 (got $CTL_RC)" test "$CTL_RC" = 2
ctl nosock -s "$ZT_TMP/none.sock" status
check "no socket: exit 1 with the reason (got $CTL_RC)" \
	rc_and 1 err_has nosock "^ztvpn-ctl: cannot connect to .*none.sock"

# --- sessions and status -------------------------------------------------------
ctl sessions -s "$SOCK" sessions
check "sessions: exit 0 (got $CTL_RC)" test "$CTL_RC" = 0
check "sessions: a header" out_has sessions '^ID +USER +DEVICE +ADDR4 +ADDR6 +ENDPOINT +SINCE +BYTES-IN +BYTES-OUT +PKTS-IN +PKTS-OUT +DROPS'
check "sessions: alice on laptop-042 at 100.64.0.2 from $L1_ADDR" \
	out_has sessions "^[0-9]+ +alice +laptop-042 +100\.64\.0\.2 +- +${L1_ADDR//./\\.}:[0-9]+ +[0-9T:-]+Z "
check "sessions: bob on laptop-077 at 100.64.0.3 from $L2_ADDR" \
	out_has sessions "^[0-9]+ +bob +laptop-077 +100\.64\.0\.3 +- +${L2_ADDR//./\\.}:[0-9]+ +[0-9T:-]+Z "
check "sessions: groups shown" out_has sessions 'alice .* engineering +managed$'
check "sessions: exactly two sessions" test "$(grep -cE '^[0-9]+ ' "$ZT_TMP/sessions.out")" = 2

ctl sessions-json -s "$SOCK" --json sessions
check "--json sessions: exit 0 (got $CTL_RC)" test "$CTL_RC" = 0
check "--json sessions: two sessions, alice and bob" \
	json sessions-json 'sorted(s["user"] for s in d["sessions"]) == ["alice", "bob"]'
check "--json sessions: alice's fields" json sessions-json '
[s for s in d["sessions"] if s["user"] == "alice"
 and s["device"] == "laptop-042" and s["addr4"] == "100.64.0.2" and s["addr6"] is None
 and s["endpoint"].startswith("192.0.2.2:")
 and s["user_groups"] == ["engineering"] and s["device_groups"] == ["managed"]
 and isinstance(s["id"], int) and s["id"] > 0
 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s["since"])
 and isinstance(s["since_epoch"], int) and s["since_epoch"] > 1600000000
 and s["bytes_in"] > 0 and s["bytes_out"] > 0
 and s["packets_in"] >= 3 and s["packets_out"] >= 3
 and s["drops_total"] == sum(s["drops"].values()) and "spoofed-source" in s["drops"]]'
check "--json sessions: bob's fields" json sessions-json '
[s for s in d["sessions"] if s["user"] == "bob" and s["device"] == "laptop-077"
 and s["addr4"] == "100.64.0.3" and s["endpoint"].startswith("192.0.2.3:")
 and s["user_groups"] == ["sales"] and s["device_groups"] == ["byod"]]'

ctl status -s "$SOCK" status
check "status: exit 0 (got $CTL_RC)" test "$CTL_RC" = 0
check "status: two sessions established" out_has status '^sessions_established: 2$'
check "status: version" out_has status '^version: [0-9]'
check "status: uptime" out_has status '^uptime_seconds: [0-9]+$'
check "status: admitted" out_has status '^admitted: 2$'
check "status: rejections by reason" out_has status '^rejected: .*user-auth=0'
check "status: drops by reason" out_has status '^drops: spoofed-source=[0-9]+ '

ctl status-json -s "$SOCK" --json status
check "--json status: the same counters" json status-json '
d["program"] == "ztvpn-server" and d["sessions_established"] == 2
and d["sessions_handshaking"] == 0 and d["admitted"] == 2 and d["connections"] >= 2
and isinstance(d["rejected"], dict) and isinstance(d["drops"], dict)
and isinstance(d["uptime_seconds"], int) and isinstance(d["policy_rules"], int)'

# --- non-root users ------------------------------------------------------------
CTL_RC=0
as_nobody timeout 10 "$CTL_BIN" -s "$SOCK" status >"$ZT_TMP/nobody.out" 2>"$ZT_TMP/nobody.log" || CTL_RC=$?
check "a non-root user cannot connect: exit 1 (got $CTL_RC)" \
	rc_and 1 err_has nobody "Permission denied"
# Even with the file permissions opened, the server checks the peer's uid.
refused_before=$(count 'refused a connection from uid 65534' "$slog")
chmod 0755 "${SOCK%/*}"
chmod 0666 "$SOCK"
CTL_RC=0
as_nobody timeout 10 "$CTL_BIN" -s "$SOCK" status >"$ZT_TMP/nobody2.out" 2>"$ZT_TMP/nobody2.log" || CTL_RC=$?
chmod 0600 "$SOCK"
chmod 0700 "${SOCK%/*}"
check "with the socket opened up, the server refuses uid 65534: exit 1 (got $CTL_RC)" \
	rc_and 1 err_has nobody2 "^ztvpn-ctl: permission denied$"
check "nothing was answered to uid 65534" test ! -s "$ZT_TMP/nobody2.out"
check "server logs the refused uid" \
	wait_for 5 at_least $((refused_before + 1)) 'refused a connection from uid 65534' "$slog"

# --- the client's control socket -----------------------------------------------
check "client socket has mode 0600" test "$(stat -c %a "$CSOCK" 2>/dev/null)" = 600
ctl cstatus -s "$CSOCK" status
check "client status: exit 0 (got $CTL_RC)" test "$CTL_RC" = 0
check "client status: established" out_has cstatus '^state: established$'
check "client status: its tunnel address" out_has cstatus '^addr4: 100\.64\.0\.2$'
check "client status: the pushed route" out_has cstatus '^routes: .*198\.51\.100\.0/24'
ctl cstatus-json -s "$CSOCK" --json status
check "client --json status" json cstatus-json '
d["program"] == "ztvpn-client" and d["state"] == "established"
and d["addr4"] == "100.64.0.2" and d["server"] == "192.0.2.1:8443"
and "198.51.100.0/24" in d["routes"] and isinstance(d["session_id"], int)
and d["packets_out"] >= 3 and d["reconnects"] == 0
and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["since"])'
ctl csessions -s "$CSOCK" sessions
check "client: sessions is not supported: exit 1 (got $CTL_RC)" \
	rc_and 1 err_has csessions "not supported by the client"

# --- hostile requests ----------------------------------------------------------
# error_or_nothing FILE: FILE is empty or starts with an error line.
error_or_nothing() { [[ ! -s $1 ]] || head -n1 "$1" | grep -q '^error '; }
# socat_req NAME: send stdin to the server socket, keep the answer.
socat_req() {
	timeout -k 2 10 socat -t 5 - "UNIX-CONNECT:$SOCK" >"$ZT_TMP/$1.out" 2>/dev/null || true
}
head -c 600 /dev/zero | tr '\0' a | socat_req long
check "600 bytes without a newline: error request too long" \
	grep -qx 'error request too long' "$ZT_TMP/long.out"
printf 'text \001\377junk\n' | socat_req junk
check "binary junk: error, not printable" grep -qx 'error request is not printable ASCII' "$ZT_TMP/junk.out"
printf 'text kill id 1; rm -rf /\n' | socat_req inject
check "kill id with trailing junk: error bad session id" grep -qx 'error bad session id' "$ZT_TMP/inject.out"
head -c 300 /dev/urandom | socat_req random
check "random bytes: an error line or a close" error_or_nothing "$ZT_TMP/random.out"
printf 'text status' | socat_req nonl
check "a request without its newline, then EOF: closed without an answer" test ! -s "$ZT_TMP/nonl.out"

# 20 idle connections at once: 16 are served (and closed when they send no
# request within 2 s), the others are told the server is busy.
cat >"$ZT_TMP/idle.py" <<'PYEOF'
import socket, sys, time
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])  # blocking: waits while the backlog is full
    s.settimeout(8)
    socks.append(s)
t0 = time.monotonic()
busy = closed = other = 0
for s in socks:
    try:
        d = s.recv(100)
    except OSError:
        d = None
    if d is not None and d.startswith(b"error busy"):
        busy += 1
    elif d == b"":
        closed += 1
    else:
        other += 1
print(busy, closed, other, "%.1f" % (time.monotonic() - t0))
PYEOF
read -r busy closed other secs < <(timeout 20 python3 "$ZT_TMP/idle.py" "$SOCK" 20 || echo x x x x)
log "idle connections: busy $busy, closed $closed, other $other, after ${secs}s"
check "16 idle connections served and closed, 4 refused as busy" \
	test "$busy $closed $other" = "4 16 0"
check "idle connections closed after about 2 s (${secs}s)" \
	python3 -c 'import sys; sys.exit(0 if 1.5 <= float(sys.argv[1]) <= 4.5 else 1)' "$secs"
check "server logs the busy refusals" has_line 'control socket: refused a connection: 16 connections in progress' "$slog"
ctl after-junk -s "$SOCK" status
check "server still answers after the hostile requests" \
	rc_and 0 out_has after-junk "^sessions_established: 2$"
check "server still running" bg_alive server

# --- kill ----------------------------------------------------------------------
# was_killed CLIENT USER DEVICE KILL_RE: after a kill of USER's session,
# the client CLIENT exits 1 saying it was killed, and the server logs a
# kill record matching KILL_RE and the end of the session with reason
# killed.
was_killed() {
	local client=$1 user=$2 dev=$3 kill_re=$4
	if bg_wait "$client" 10; then
		check "$user's client exits 1 (got $BG_STATUS)" test "$BG_STATUS" = 1
	else
		not_ok "$user's client exits after the kill"
	fi
	check "$user's client says it was killed" has_line 'killed' "$(bg_log "$client")"
	check "server audits the kill of $user's session" has_line "$kill_re" "$slog"
	check "server audits the end of $user's session with reason killed" \
		has_line "$(audit_end_re "$user" "$dev" killed)" "$slog"
}

ctl unknown -s "$SOCK" kill id 999999
check "kill of an unknown id: exit 1 (got $CTL_RC)" \
	rc_and 1 err_has unknown "^ztvpn-ctl: no matching session$"
ctl unknown-user -s "$SOCK" kill user mallory
check "kill of an unknown user: exit 1 (got $CTL_RC)" test "$CTL_RC" = 1

bob_id=$(session_id sessions-json bob)
log "bob's session is $bob_id"
start_bg alice-ping "$NS_L1" ping -n -q -i 0.2 -c 25 -W 1 "$CORP_ADDR"
ctl killbob -s "$SOCK" kill id "$bob_id"
check "kill id $bob_id: exit 0 (got $CTL_RC)" test "$CTL_RC" = 0
check "kill id $bob_id: names the session" out_has killbob "^killed session $bob_id \(user bob, device laptop-077\)$"
was_killed client2 bob laptop-077 \
	"audit event=kill session=$bob_id user=\"?bob\"? device=\"?laptop-077\"? by=control"
if bg_wait alice-ping 15; then
	check "alice kept pinging corp through bob's kill (ping status $BG_STATUS)" test "$BG_STATUS" = 0
else
	not_ok "alice's ping finished"
fi
check "alice's pings all answered" grep -qE ' 25 received| 0% packet loss' "$(bg_log alice-ping)"
check "alice's client is still up" bg_alive client1
ctl after-bob -s "$SOCK" --json sessions
check "sessions: only alice is left" json after-bob '[s["user"] for s in d["sessions"]] == ["alice"]'

ctl killalice -s "$SOCK" --json kill user alice
check "kill user alice: exit 0 (got $CTL_RC)" test "$CTL_RC" = 0
check "kill user alice: the JSON names her session" json killalice 'len(d["killed"]) == 1 and isinstance(d["killed"][0], int)'
was_killed client1 alice laptop-042 'audit event=kill session=[0-9]+ user="?alice"? .*by=control'
ctl empty -s "$SOCK" sessions
check "sessions: only the header is left" rc_and 0 lines_are empty 1
ctl empty-json -s "$SOCK" --json sessions
check "--json sessions: an empty list" json empty-json 'd == {"sessions": []}'
ctl status2 -s "$SOCK" --json status
check "status: two ended, none established" \
	json status2 'd["ended"] == 2 and d["sessions_established"] == 0'
check "alice's client removed its socket" test ! -e "$CSOCK"

# --- reload --------------------------------------------------------------------
ctl reload -s "$SOCK" reload
check "reload: exit 0 (got $CTL_RC)" test "$CTL_RC" = 0
check "server audits the reload from the control socket" \
	wait_for 5 has_line 'audit event=reload result=ok trigger=control' "$slog"

bg_stop server
check "server stops cleanly (status $BG_STATUS)" test "$BG_STATUS" = 0
check "server removed its socket" test ! -e "$SOCK"

zt_finish
