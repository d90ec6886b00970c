#!/bin/bash
# Configuration checking (-n): a valid configuration exits 0; errors exit 2
# with "FILE:LINE: message"; private keys readable by others are refused.
# No network namespaces: nothing is started.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init config_errors
require_bins server client
zt_pki
C=$ZT_TMP/conf
mkdir -p "$C"

# expect NAME STATUS REGEX PROGRAM ARGS...: run PROGRAM ARGS (from $ZT_TMP,
# not the configuration's directory), check the exit status and (if REGEX
# is not empty) that the output matches REGEX.
expect() {
	local name=$1 status=$2 re=$3
	shift 3
	run_fg "$name" 10 - "$@"
	check "$name: exit status $status (got $FG_STATUS)" test "$FG_STATUS" = "$status"
	if [[ -n $re ]]; then
		check "$name: output matches /$re/" grep -qE -- "$re" "$(bg_log "$name")"
	fi
	if [[ $FG_STATUS != "$status" ]] || { [[ -n $re ]] && ! grep -qE -- "$re" "$(bg_log "$name")"; }; then
		diag "$(bg_log "$name")"
	fi
}

# --- server ---
write_server_conf "$C/server.conf"
expect server-valid 0 '' "$SERVER_BIN" -n -c "$C/server.conf"

# Line 3 has a setting without a value: a libconfig syntax error.
cat >"$C/bad.conf" <<'CONF'
# syntax error on line 3
listen = "192.0.2.1:8443";
tls = { certificate = ; private_key = "server.key"; };
CONF
expect server-syntax-error 2 'bad\.conf:3: ' "$SERVER_BIN" -n -c "$C/bad.conf"

# An unknown top-level key on a known line.
write_server_conf "$C/unknown.conf"
line=$(($(wc -l <"$C/unknown.conf") + 1))
echo 'listn = "192.0.2.1:8443";' >>"$C/unknown.conf"
expect server-unknown-key 2 "unknown\\.conf:$line: .*listn" \
	"$SERVER_BIN" -n -c "$C/unknown.conf"

# An unknown key inside the tls group (a typo of private_key).
write_server_conf "$C/unknown-tls.conf"
sed -i 's/^  private_key = /  privat_key = /' "$C/unknown-tls.conf"
line=$(grep -n 'privat_key' "$C/unknown-tls.conf" | cut -d: -f1)
expect server-unknown-tls-key 2 "unknown-tls\\.conf:$line: .*privat_key" \
	"$SERVER_BIN" -n -c "$C/unknown-tls.conf"

# A bad value: pool4 with a prefix length of 33.
write_server_conf "$C/badpool.conf"
sed -i 's|pool4 = "100.64.0.0/24"|pool4 = "100.64.0.0/33"|' "$C/badpool.conf"
line=$(grep -n 'pool4' "$C/badpool.conf" | cut -d: -f1)
expect server-bad-pool4 2 "badpool\\.conf:$line: " "$SERVER_BIN" -n -c "$C/badpool.conf"

# A certificate file that does not exist.
write_server_conf "$C/missing.conf"
sed -i 's|certificate = ".*server.crt"|certificate = "no-such-file.crt"|' "$C/missing.conf"
expect server-missing-file 2 'missing\.conf(:[0-9]+)?: .*no-such-file\.crt' \
	"$SERVER_BIN" -n -c "$C/missing.conf"

# The private key is readable by group and others (0644).
install -m 0644 "$ZT_PKI/server.key" "$C/server-0644.key"
write_server_conf "$C/keymode.conf"
sed -i 's|private_key = ".*"|private_key = "server-0644.key"|' "$C/keymode.conf"
expect server-key-0644 2 'readable by' "$SERVER_BIN" -n -c "$C/keymode.conf"
chmod 0640 "$C/server-0644.key"
expect server-key-0640 2 'readable by' "$SERVER_BIN" -n -c "$C/keymode.conf"
chmod 0600 "$C/server-0644.key"
expect server-key-0600 0 '' "$SERVER_BIN" -n -c "$C/keymode.conf"

expect server-no-such-config 2 '' "$SERVER_BIN" -n -c "$C/does-not-exist.conf"
expect server-bad-option 2 '' "$SERVER_BIN" --no-such-option

# --- client ---
write_client_conf "$C/client.conf" "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
expect client-valid 0 '' "$CLIENT_BIN" -n -c "$C/client.conf"

cat >"$C/client-bad.conf" <<'CONF'
server = "192.0.2.1:8443";
server_name = "gw.corp.example";
server_ca = ;
CONF
expect client-syntax-error 2 'client-bad\.conf:3: ' "$CLIENT_BIN" -n -c "$C/client-bad.conf"

write_client_conf "$C/client-unknown.conf" "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
line=$(($(wc -l <"$C/client-unknown.conf") + 1))
echo 'sever = "192.0.2.1:8443";' >>"$C/client-unknown.conf"
expect client-unknown-key 2 "client-unknown\\.conf:$line: .*sever" \
	"$CLIENT_BIN" -n -c "$C/client-unknown.conf"

install -m 0644 "$ZT_PKI/users/alice.key" "$C/alice-0644.key"
write_client_conf "$C/client-keymode.conf" "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
sed -i 's|user = { certificate = "\([^"]*\)"; private_key = "[^"]*"; };|user = { certificate = "\1"; private_key = "alice-0644.key"; };|' \
	"$C/client-keymode.conf"
expect client-user-key-0644 2 'readable by' "$CLIENT_BIN" -n -c "$C/client-keymode.conf"

install -m 0644 "$ZT_PKI/devices/laptop-042.key" "$C/laptop-0644.key"
write_client_conf "$C/client-devkey.conf" "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
sed -i 's|device = { certificate = "\([^"]*\)"; private_key = "[^"]*"; };|device = { certificate = "\1"; private_key = "laptop-0644.key"; };|' \
	"$C/client-devkey.conf"
expect client-device-key-0644 2 'readable by' "$CLIENT_BIN" -n -c "$C/client-devkey.conf"

expect client-bad-option 2 '' "$CLIENT_BIN" --no-such-option

zt_finish
