#!/bin/bash
# Pre-authentication limits keep one flooding address from degrading anyone
# else (max_handshakes_per_source = 8, connect_rate_per_source = 10,
# handshake_timeout = 5, idle_timeout = 10, keepalive = 2):
#   - from laptop2, a half-open flood (200 TCP connections that complete the
#     TCP handshake and stay silent, each replaced when the server drops it)
#     and a connect flood (2000 connect-and-close attempts) run together;
#     meanwhile alice on laptop1 connects in normal time, gets her address,
#     pings corp and moves 1 MB over TCP;
#   - the refusals are counted by reason in `ztvpn-ctl status`
#     (source-handshakes and source-rate), logged a few lines a second at
#     most (not one per connection), and the stalled handshakes time out and
#     are counted;
#   - once the flood stops, bob's legitimate client on laptop2 gets in (its
#     address's bucket has refilled);
#   - idle_timeout: bob, idle but exchanging keepalives, is closed after
#     about 10 s with reason "idle", while alice, pinging, stays;
#   - max_handshakes = 4: with 4 stalled connections from two addresses a
#     5th is refused and counted; after they time out a client gets in.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init preauth
require_bins server client "$CTL_BIN"
zt_pki
topo_up 2

FLOOD_SECS=12
SOCK=$ZT_TMP/gw/server.sock

write_server_conf "$ZT_TMP/gw/server.conf" 'control_socket = "server.sock";
max_handshakes_per_source = 8;
connect_rate_per_source = 10;
handshake_timeout = 5;
idle_timeout = 10;'
sed -i 's|^  keepalive = 10;|  keepalive = 2;|' "$ZT_TMP/gw/server.conf"
must "server.conf has keepalive = 2" has_line '^  keepalive = 2;' "$ZT_TMP/gw/server.conf"
write_server_conf "$ZT_TMP/gw/global.conf" 'control_socket = "server.sock";
max_handshakes = 4;
handshake_timeout = 3;'
write_client_conf "$ZT_TMP/laptop1/client.conf" "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
write_client_conf "$ZT_TMP/laptop2/client.conf" "$ZT_PKI/devices/laptop-077" "$ZT_PKI/users/bob"

# The flooding peer: plain sockets, every loop bounded in count and time.
#   halfopen ADDR PORT N SECS  keep N silent connections open for SECS,
#                              reopening each one the server closes (at
#                              most 20*N opens)
#   connect ADDR PORT N SECS   N connect-and-close attempts spread over SECS
#   stall ADDR PORT N SECS     open N silent connections, hold them SECS
#   probe ADDR PORT            one more connection: "closed" if the server
#                              ends it within 1 s, "open" if not
FLOOD=$ZT_TMP/flood.py
cat >"$FLOOD" <<'PYEOF'
import selectors, socket, sys, time

def opener(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect((addr, int(port)))
    except OSError:
        s.close()
        return None
    s.setblocking(False)
    return s

def closed(s):
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True

def halfopen(addr, port, n, secs):
    n, end = int(n), time.monotonic() + float(secs)
    sel, opens, drops = selectors.DefaultSelector(), 0, 0
    while time.monotonic() < end:
        while len(sel.get_map()) < n and opens < 20 * n and time.monotonic() < end:
            s = opener(addr, port)
            opens += 1
            if s:
                sel.register(s, selectors.EVENT_READ)
        for key, _ in sel.select(0.05):
            if closed(key.fileobj):
                sel.unregister(key.fileobj)
                key.fileobj.close()
                drops += 1
        if opens >= 20 * n:
            time.sleep(0.05)
    print("halfopen: %d opened, %d closed by the server" % (opens, drops), flush=True)

def connect(addr, port, n, secs):
    n, secs = int(n), float(secs)
    t0, ok = time.monotonic(), 0
    for i in range(n):
        if time.monotonic() > t0 + secs + 5:
            break
        s = opener(addr, port)
        if s:
            ok += 1
            s.close()
        pause = t0 + secs * (i + 1) / n - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    print("connect: %d of %d attempts connected" % (ok, n), flush=True)

def stall(addr, port, n, secs):
    socks = [opener(addr, port) for _ in range(int(n))]
    print("stall: %d open" % sum(1 for s in socks if s), flush=True)
    time.sleep(float(secs))

def probe(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect((addr, int(port)))
    except ConnectionResetError:
        print("closed")  # the reset came before connect() looked
        return
    except OSError as e:
        print("noconnect: %s" % e)
        return
    s.setblocking(True)
    s.settimeout(1)
    try:
        print("closed" if s.recv(4096) == b"" else "data")
    except socket.timeout:
        print("open")
    except OSError:
        print("closed")

cmd, args = sys.argv[1], sys.argv[2:]
{"halfopen": halfopen, "connect": connect, "stall": stall, "probe": probe}[cmd](*args)
PYEOF

# status_field NAME: the value of a line "NAME: VALUE" of the last status.
status_field() {
	sed -n "s/^$1: //p" "$ZT_TMP/status.log"
}

# refused_by REASON: that reason's count in the last status's refused_by.
refused_by() {
	status_field refused_by | tr ' ' '\n' | sed -n "s/^$1=//p"
}

ctl_status() {
	run_fg status 10 "$NS_GW" "$CTL_BIN" -s "$SOCK" status
	[[ $FG_STATUS == 0 ]]
}

gt0() { [[ ${1:-0} =~ ^[0-9]+$ ]] && (($1 > 0)); }

# handshaking N: a fresh status shows N handshakes in progress.
handshaking() { ctl_status && test "$(status_field sessions_handshaking)" = "$1"; }

# --- the flood from laptop2 while alice connects from laptop1 ---------------
must "server (per source: 8 handshakes, 10 connections/s) starts" start_server server
SLOG=$(bg_log server)
start_bg halfopen "$NS_L2" python3 "$FLOOD" halfopen "$GW_LAN" 8443 200 "$FLOOD_SECS"
start_bg connflood "$NS_L2" python3 "$FLOOD" connect "$GW_LAN" 8443 2000 "$FLOOD_SECS"
check "the flood is being refused (source-handshakes)" \
	wait_for 5 has_line 'refused [0-9]+ connections? from 192\.0\.2\.3 .*max_handshakes_per_source' "$SLOG"

t0=$(now_us)
must "alice on laptop1 is admitted during the flood" \
	start_client alice "$NS_L1" "$ZT_TMP/laptop1/client.conf"
alice_ms=$((($(now_us) - t0) / 1000))
log "alice connected in $alice_ms ms during the flood"
check "alice connected within 3 s during the flood ($alice_ms ms)" test "$alice_ms" -lt 3000
check "alice got 100.64.0.2 (got '$(client_addr alice)')" test "$(client_addr alice)" = 100.64.0.2
# Keep alice's tunnel carrying data for the idle_timeout check below.
start_bg alice-ping "$NS_L1" ping -n -q -i 0.5 -w 60 "$CORP_ADDR"
check "alice pings corp during the flood" ping_ok "$NS_L1" "$CORP_ADDR" 3
check "alice moves 1 MB to corp over TCP during the flood" \
	tcp_transfer xfer "$NS_L1" 5001 1
check "the flood was still running after alice's traffic" bg_alive connflood

check "the half-open flood ends (bounded)" bg_wait halfopen $((FLOOD_SECS + 10))
check "the connect flood ends (bounded)" bg_wait connflood $((FLOOD_SECS + 10))
log "$(cat "$(bg_log halfopen)") / $(cat "$(bg_log connflood)")"
flood_end=$(now_us)

must "ztvpn-ctl status answers" ctl_status
hs=$(refused_by source-handshakes) rate=$(refused_by source-rate)
refused=$(status_field refused) timeouts=$(status_field handshake_timeouts)
log "refused $refused: source-handshakes $hs, source-rate $rate; handshake timeouts $timeouts"
check "status: refused_by source-handshakes > 0 ($hs)" gt0 "$hs"
check "status: refused_by source-rate > 0 ($rate)" gt0 "$rate"
check "status: nothing refused by the global max_handshakes ($(refused_by handshakes))" \
	test "$(refused_by handshakes)" = 0
check "status: handshake_timeouts counts the stalled connections ($timeouts >= 8)" \
	test "${timeouts:-0}" -ge 8
check "status: shows the limits" \
	grep -qx 'max_handshakes_per_source: 8' "$ZT_TMP/status.log"
check "status: connect_rate_per_source: 10" \
	grep -qx 'connect_rate_per_source: 10' "$ZT_TMP/status.log"
lines=$(count 'ztvpn-server: warning: refused [0-9]+ connections? from ' "$SLOG")
log "$lines refusal log lines for $refused refused connections"
check "refusals are logged rate-limited: $lines lines (<= 2 a second per reason) for $refused" \
	test "$lines" -le $((2 * 2 * (FLOOD_SECS + 4))) -a "$refused" -gt $((5 * lines))
check "a summary line counts many refusals at once" \
	has_line 'refused [0-9]{2,} connections from 192\.0\.2\.3 in the last second: ' "$SLOG"
check "the log names connect_rate_per_source" \
	has_line 'refused [0-9]+ connections? from 192\.0\.2\.3 in the last second: connect_rate_per_source \(10 per second, burst 20\)' "$SLOG"
check "stalled handshakes are closed by the timeout" \
	has_line "$(audit_reject_re timeout).*handshake not completed in time" "$SLOG"
check "alice's session survived the flood" bg_alive alice
check "no session of alice ended" fails has_line 'audit event=end .*user="alice"' "$SLOG"

# --- after the flood, laptop2's own client gets in -------------------------
# Its bucket refills within 2 s of the last attempt.
wait_for 3 test "$((($(now_us) - flood_end) / 1000))" -ge 2000 || true
must "bob on laptop2 is admitted once the flood has stopped" \
	start_client bob "$NS_L2" "$ZT_TMP/laptop2/client.conf"
bob_up=$(now_us)
check "bob got 100.64.0.3 (got '$(client_addr bob)')" test "$(client_addr bob)" = 100.64.0.3

# --- idle_timeout = 10: bob is idle, alice is not -----------------------------
check "bob's session ends for idleness within 15 s" \
	wait_for 15 has_line "$(audit_end_re bob laptop-077 timeout)detail=\"idle: no tunnel data for 10 s" "$SLOG"
idle_ms=$((($(now_us) - bob_up) / 1000))
log "bob's idle session closed $idle_ms ms after admission"
check "bob was closed after about 10 s idle ($idle_ms ms: 9.5 to 13 s)" \
	test "$idle_ms" -ge 9500 -a "$idle_ms" -le 13000
check "keepalives flowed meanwhile (bob's session lived past 3 keepalive intervals)" \
	test "$idle_ms" -gt 6000
check "alice, passing traffic, still has her session" \
	fails has_line 'audit event=end .*user="alice"' "$SLOG"
check "alice still pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3
must "ztvpn-ctl status answers" ctl_status
check "status: idle_timeouts >= 1 ($(status_field idle_timeouts))" gt0 "$(status_field idle_timeouts)"
check "status: idle_timeout: 10" grep -qx 'idle_timeout: 10' "$ZT_TMP/status.log"
bg_stop bob
bg_stop alice-ping
bg_stop alice
bg_stop server
check "server exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

# --- max_handshakes = 4 across two addresses --------------------------------
must "server (max_handshakes = 4, handshake_timeout = 3) starts" start_server server2 "$ZT_TMP/gw/global.conf"
SLOG=$(bg_log server2)
start_bg stall1 "$NS_L1" python3 "$FLOOD" stall "$GW_LAN" 8443 2 20
start_bg stall2 "$NS_L2" python3 "$FLOOD" stall "$GW_LAN" 8443 2 20
check "4 stalled handshakes in progress" \
	wait_for 3 handshaking 4
probe=$(nsx "$NS_L1" timeout 5 python3 "$FLOOD" probe "$GW_LAN" 8443 || true)
check "a 5th connection is refused at once (got '$probe')" test "$probe" = closed
must "ztvpn-ctl status answers" ctl_status
check "status: refused_by handshakes = 1 ($(refused_by handshakes))" test "$(refused_by handshakes)" = 1
check "the log names max_handshakes" \
	has_line 'refused 1 connection from 192\.0\.2\.2 in the last second: max_handshakes \(4 in progress\)' "$SLOG"
check "the stalled handshakes time out (3 s)" \
	wait_for 6 handshaking 0
check "status: handshake_timeouts = 4 ($(status_field handshake_timeouts))" \
	test "$(status_field handshake_timeouts)" = 4
must "alice is admitted once they have timed out" \
	start_client alice2 "$NS_L1" "$ZT_TMP/laptop1/client.conf"
check "alice pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3
bg_stop alice2
bg_stop stall1
bg_stop stall2
bg_stop server2
check "server2 exits 0 on SIGTERM (status $BG_STATUS)" test "$BG_STATUS" = 0

zt_finish
