#!/bin/bash
# Prometheus metrics: the metrics_listen endpoint (curl inside the gateway
# namespace) and `ztvpn-ctl metrics` follow what happens:
#   - before any client: no sessions, every rejection reason already there
#     with 0, and the whole scrape is valid exposition syntax (checked by a
#     small grammar checker below, on every scrape);
#   - alice connects and pings corp: 1 session, 1 admitted handshake, bytes
#     and packets both ways > 0, and growing with more traffic;
#   - a client with an expired user certificate bumps
#     ztvpn_rejections_total{reason="user-auth"};
#   - traffic that a deny rule stops bumps ztvpn_drops_total{reason="policy"}
#     and ztvpn_policy_denied_total (the same count);
#   - a reload (ztvpn-ctl, then SIGHUP) bumps ztvpn_reloads_total{result="ok"};
#   - `ztvpn-ctl metrics` answers the same metric names; --json is refused;
#   - 404 for another path, 405 for POST, 400 for garbage, HEAD has no body,
#     and connections beyond 8 at once are closed at accept and counted;
#   - when alice disconnects the byte totals stay (ended sessions count);
#   - without metrics_listen nothing listens on 9586.
# shellcheck disable=SC2317 # helpers are called through check/must
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init metrics
require_bins server client "$CTL_BIN"
command -v curl >/dev/null || bail "curl is not installed (packaging/install-deps.sh)"
command -v python3 >/dev/null || bail "python3 is not installed"
zt_pki
topo_up 2

MPORT=9586
URL=http://127.0.0.1:$MPORT
SOCK=$ZT_TMP/gw-run/server.sock
conf=$ZT_TMP/gw/server.conf
write_server_conf "$conf" "policy = \"policy.conf\";
control_socket = \"$SOCK\";
metrics_listen = \"127.0.0.1:$MPORT\";"
cat >"$ZT_TMP/gw/policy.conf" <<'EOF'
# test_metrics.sh: alice may ping corp; tcp/5002 is denied to everyone
rules = (
  { name = "alice-corp"; users = [ "alice" ]; devices = [ "laptop-042" ]; allow = [ "198.51.100.10 icmp tcp/5001" ]; },
  { name = "no-5002"; users = [ "*" ]; devices = [ "*" ]; deny = [ "198.51.100.10 tcp/5002" ]; }
);
EOF
write_client_conf "$ZT_TMP/laptop1/client.conf" "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
write_client_conf "$ZT_TMP/laptop2/expired.conf" "$ZT_PKI/devices/laptop-077" "$ZT_PKI/bad/user-expired"

# The exposition grammar (format 0.0.4): every line is a HELP, a TYPE or a
# sample; each metric has one HELP and one TYPE before its samples, which
# are contiguous; counters end in _total; no series twice; a final newline.
cat >"$ZT_TMP/promcheck.py" <<'EOF'
import re, sys
NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r'[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN'
SAMPLE = re.compile(r'(%s)(\{(?:%s(?:,%s)*,?)?\})? (%s)(?: -?\d+)?$' % (NAME, LABEL, LABEL, VALUE))
HELP = re.compile(r'# HELP (%s) (?:[^\\\n]|\\[\\n])*$' % NAME)
TYPE = re.compile(r'# TYPE (%s) (counter|gauge|histogram|summary|untyped)$' % NAME)
text = open(sys.argv[1], encoding='utf-8').read()
errs = []
if not text.endswith('\n'):
    errs.append('no final newline')
helps, types, done, series = set(), {}, set(), set()
current = None
for n, line in enumerate(text.split('\n')[:-1], 1):
    if m := HELP.match(line):
        name = m.group(1)
        if name in helps: errs.append('%d: second HELP for %s' % (n, name))
        helps.add(name)
    elif m := TYPE.match(line):
        name, kind = m.groups()
        if name in types: errs.append('%d: second TYPE for %s' % (n, name))
        if kind == 'counter' and not name.endswith('_total'):
            errs.append('%d: counter %s does not end in _total' % (n, name))
        types[name] = kind
        if current: done.add(current)
        current = name
    elif m := SAMPLE.match(line):
        name = m.group(1)
        if name != current or name in done:
            errs.append('%d: sample of %s outside its TYPE block' % (n, name))
        key = name + (m.group(2) or '')
        if key in series: errs.append('%d: series %s twice' % (n, key))
        series.add(key)
    else:
        errs.append('%d: not exposition syntax: %r' % (n, line))
for name in types:
    if name not in helps: errs.append('no HELP for %s' % name)
for name in helps:
    if name not in types: errs.append('no TYPE for %s' % name)
for e in errs: print(e)
sys.exit(1 if errs or not series else 0)
EOF

HTTP_CODE=
# scrape NAME [PATH [CURL ARGS...]]: fetch $URL/PATH (default /metrics) from
# inside the gateway namespace into $ZT_TMP/NAME.prom (headers NAME.hdr);
# HTTP_CODE = the status ("000" when nothing answered).
scrape() {
	local name=$1 path=${2:-/metrics}
	shift $(($# < 2 ? $# : 2))
	HTTP_CODE=$(nsx "$NS_GW" curl -sS -m 5 -o "$ZT_TMP/$name.prom" -D "$ZT_TMP/$name.hdr" \
		-w '%{http_code}' "$@" "$URL$path" 2>"$ZT_TMP/$name.err") || HTTP_CODE=000
}

# valid NAME: $ZT_TMP/NAME.prom passes the grammar check (errors shown).
valid() {
	local out
	out=$(python3 "$ZT_TMP/promcheck.py" "$ZT_TMP/$1.prom" 2>&1) && return 0
	log "$1: $out"
	return 1
}

# m NAME SERIES: the value of SERIES (exactly as written, labels included)
# in scrape NAME, or "none".
m() {
	local v
	v=$(awk -v s="$2" '$1 == s { print $2; exit }' "$ZT_TMP/$1.prom")
	printf '%s' "${v:-none}"
}

# is NAME SERIES VALUE / gt NAME SERIES N: the value is VALUE / > N.
is() {
	[[ $(m "$1" "$2") == "$3" ]] && return 0
	log "$1: $2 is $(m "$1" "$2"), wanted $3"
	return 1
}
gt() {
	local v
	v=$(m "$1" "$2")
	[[ $v =~ ^[0-9]+$ ]] && ((v > $3)) && return 0
	log "$1: $2 is $v, wanted > $3"
	return 1
}

# names FILE: the metric names of an exposition (its TYPE lines), sorted.
names() { awk '$1 == "#" && $2 == "TYPE" { print $3 }' "$1" | sort; }

must "server starts" start_server
slog=$(bg_log server)
check "the server logs 'metrics on 127.0.0.1:$MPORT'" \
	has_line "ztvpn-server: info: metrics on 127.0.0.1:$MPORT" "$slog"
check "no warning for a loopback metrics address" \
	test "$(count 'metrics_listen .* not a loopback' "$slog")" = 0

# --- before any client ---------------------------------------------------------------
scrape s0
must "GET /metrics answers 200 (got $HTTP_CODE)" test "$HTTP_CODE" = 200
check "Content-Type is text/plain; version=0.0.4" \
	grep -qi '^Content-Type: text/plain; version=0.0.4' "$ZT_TMP/s0.hdr"
check "Connection: close" grep -qi '^Connection: close' "$ZT_TMP/s0.hdr"
check "the scrape is valid exposition syntax" valid s0
check "ztvpn_build_info has the version label" \
	grep -qE '^ztvpn_build_info\{version="[^"]+"\} 1$' "$ZT_TMP/s0.prom"
check "sessions 0" is s0 ztvpn_sessions 0
check "no handshakes in progress" is s0 ztvpn_handshakes_in_progress 0
check "admitted 0" is s0 'ztvpn_handshakes_total{result="admitted"}' 0
check "rejections by user-auth already listed with 0" \
	is s0 'ztvpn_rejections_total{reason="user-auth"}' 0
check "refusals by source-rate already listed with 0" \
	is s0 'ztvpn_refused_total{limit="source-rate"}' 0
check "policy drops listed with 0" is s0 'ztvpn_drops_total{reason="policy"}' 0
check "start time is within the last minute" \
	test $(($(date +%s) - $(m s0 ztvpn_start_time_seconds))) -lt 60

# --- alice: a session and traffic ----------------------------------------------------
must "alice on laptop-042 (laptop1) is admitted" \
	start_client alice "$NS_L1" "$ZT_TMP/laptop1/client.conf"
check "alice pings corp" ping_ok "$NS_L1" "$CORP_ADDR" 3
scrape s1
check "scrape with alice is valid" valid s1
check "sessions 1" is s1 ztvpn_sessions 1
check "admitted 1" is s1 'ztvpn_handshakes_total{result="admitted"}' 1
check "connections 1" is s1 ztvpn_connections_total 1
check "bytes from clients > 0" gt s1 'ztvpn_bytes_total{direction="from_client"}' 0
check "bytes to clients > 0" gt s1 'ztvpn_bytes_total{direction="to_client"}' 0
check "packets from clients >= 3" gt s1 'ztvpn_packets_total{direction="from_client"}' 2
check "packets to clients >= 3" gt s1 'ztvpn_packets_total{direction="to_client"}' 2
check "alice pings corp again" ping_ok "$NS_L1" "$CORP_ADDR" 3
scrape s2
for d in from_client to_client; do
	check "bytes $d grew" gt s2 "ztvpn_bytes_total{direction=\"$d\"}" "$(m s1 "ztvpn_bytes_total{direction=\"$d\"}")"
	check "packets $d grew" gt s2 "ztvpn_packets_total{direction=\"$d\"}" "$(m s1 "ztvpn_packets_total{direction=\"$d\"}")"
done

# --- a rejected client --------------------------------------------------------------
run_fg expired 20 "$NS_L2" "$CLIENT_BIN" -c "$ZT_TMP/laptop2/expired.conf"
check "the client with an expired user certificate is rejected (status $FG_STATUS)" \
	test "$FG_STATUS" = 1
wait_for 5 at_least 1 "$(audit_reject_re user-auth)" "$slog" || true
scrape s3
check "rejections user-auth 1" is s3 'ztvpn_rejections_total{reason="user-auth"}' 1
check "handshakes rejected >= 1" gt s3 'ztvpn_handshakes_total{result="rejected"}' 0
check "still 1 session" is s3 ztvpn_sessions 1

# --- a packet the policy denies -------------------------------------------------------
check "alice -> corp tcp/5002 times out (deny rule)" blocked "$NS_L1" "$CORP_ADDR" 5002
scrape s4
check "drops by policy > 0" gt s4 'ztvpn_drops_total{reason="policy"}' 0
check "policy_denied_total equals the policy drops" \
	is s4 ztvpn_policy_denied_total "$(m s4 'ztvpn_drops_total{reason="policy"}')"

# --- ztvpn-ctl metrics ----------------------------------------------------------------
run_fg ctl-metrics 10 - "$CTL_BIN" -s "$SOCK" metrics
cp "$ZT_TMP/ctl-metrics.log" "$ZT_TMP/ctl.prom"
check "ztvpn-ctl metrics exits 0 (status $FG_STATUS)" test "$FG_STATUS" = 0
check "its output is valid exposition syntax" valid ctl
check "it has the same metric names as the endpoint" \
	diff <(names "$ZT_TMP/s4.prom") <(names "$ZT_TMP/ctl.prom")
check "it counts the same session" is ctl ztvpn_sessions 1
run_fg ctl-json 10 - "$CTL_BIN" -s "$SOCK" --json metrics
check "ztvpn-ctl --json metrics is a usage error (status $FG_STATUS)" test "$FG_STATUS" = 2

# --- reload ---------------------------------------------------------------------------
check "ztvpn-ctl reload reloads" ctl_reload "$SOCK"
scrape s5
check "reloads ok 1" is s5 'ztvpn_reloads_total{result="ok"}' 1
check "reloads failed 0" is s5 'ztvpn_reloads_total{result="failed"}' 0
check "SIGHUP reloads" server_reload
scrape s5b
check "reloads ok 2" is s5b 'ztvpn_reloads_total{result="ok"}' 2

# --- HTTP answers ---------------------------------------------------------------------
scrape nf /nope
check "GET /nope answers 404 (got $HTTP_CODE)" test "$HTTP_CODE" = 404
scrape root /
check "GET / answers 200 (got $HTTP_CODE)" test "$HTTP_CODE" = 200
scrape post /metrics -X POST
check "POST /metrics answers 405 (got $HTTP_CODE)" test "$HTTP_CODE" = 405
check "... with Allow: GET, HEAD" grep -qi '^Allow: GET, HEAD' "$ZT_TMP/post.hdr"
# raw NAME BYTES: send BYTES (printf-style escapes) and read the whole
# answer into $ZT_TMP/NAME.resp (the server closes after it).
raw() {
	nsx "$NS_GW" timeout -k 1 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=4)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
sys.stdout.buffer.write(data)' "$MPORT" "$2" >"$ZT_TMP/$1.resp" 2>&1 || true
}
# status_is NAME CODE: the answer NAME starts with status CODE.
status_is() { head -n1 "$ZT_TMP/$1.resp" | grep -q "^HTTP/1.1 $2 "; }
raw head 'HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
check "HEAD /metrics answers 200" status_is head 200
check "... with the Content-Length of the exposition" \
	grep -qiE '^Content-Length: [1-9][0-9]*' "$ZT_TMP/head.resp"
check "... and no body" python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.exit(not d.endswith(b"\r\n\r\n"))' "$ZT_TMP/head.resp"
raw garbage 'GARBAGE\r\n\r\n'
check "a malformed request line answers 400" status_is garbage 400
raw barelf 'GET /metrics HTTP/1.1\nHost: x\n\n'
check "bare LF line ends answer 400" status_is barelf 400
raw http10 'GET /metrics HTTP/1.0\r\n\r\n'
check "an HTTP/1.0 request without Host answers 200" status_is http10 200
raw pipelined 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE AFTER THE REQUEST\r\n\r\n'
check "a request followed by junk gets its whole answer" \
	grep -q '^ztvpn_metrics_refused_total ' "$ZT_TMP/pipelined.resp"

# Twelve connections at once that send nothing: eight are served (and end
# at the 2 s request deadline), the rest are closed at once and counted.
nsx "$NS_GW" timeout -k 1 10 python3 -c '
import socket, sys, time
conns = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=4) for _ in range(12)]
time.sleep(0.5)
closed = 0
for c in conns:
    c.setblocking(False)
    try:
        closed += c.recv(1) == b""
    except BlockingIOError:
        pass
    except ConnectionResetError:
        closed += 1
print(closed)
for c in conns: c.close()' "$MPORT" >"$ZT_TMP/flood.out" 2>&1 || true
check "4 of 12 idle connections closed at accept (got $(cat "$ZT_TMP/flood.out"))" \
	test "$(cat "$ZT_TMP/flood.out")" = 4
scrape_ok() { scrape "$1" && [[ $HTTP_CODE == 200 ]]; }
check "a scrape works again after the flood" wait_for 5 scrape_ok s6
check "ztvpn_metrics_refused_total 4" is s6 ztvpn_metrics_refused_total 4

# --- alice leaves: the totals stay ------------------------------------------------------
bin=$(m s6 'ztvpn_bytes_total{direction="from_client"}')
bout=$(m s6 'ztvpn_bytes_total{direction="to_client"}')
pin=$(m s6 'ztvpn_packets_total{direction="from_client"}')
bg_stop alice
sessions_zero() { scrape s7 && [[ $(m s7 ztvpn_sessions) == 0 ]]; }
check "sessions 0 once alice has left" wait_for 5 sessions_zero
check "bytes from clients did not fall ($bin before)" \
	test "$(m s7 'ztvpn_bytes_total{direction="from_client"}')" -ge "$bin"
check "bytes to clients did not fall ($bout before)" \
	test "$(m s7 'ztvpn_bytes_total{direction="to_client"}')" -ge "$bout"
check "packets from clients did not fall ($pin before)" \
	test "$(m s7 'ztvpn_packets_total{direction="from_client"}')" -ge "$pin"
check "alice's session end is counted by reason shutdown" \
	is s7 'ztvpn_sessions_closed_total{reason="shutdown"}' 1
check "the last scrape is valid too" valid s7

# --- without metrics_listen -------------------------------------------------------------
bg_stop server
write_server_conf "$ZT_TMP/gw2/server.conf"
must "a server without metrics_listen starts" start_server server2 "$ZT_TMP/gw2/server.conf"
check "nothing listens on $MPORT" fails port_listening "$NS_GW" "$MPORT"
scrape none
check "the endpoint does not answer (got $HTTP_CODE)" test "$HTTP_CODE" = 000
check "no 'metrics on' line" fails has_line 'metrics on' "$(bg_log server2)"

zt_finish
