#!/bin/bash
# The client refuses a server whose certificate does not match server_name
# or does not chain to server_ca: exit 1, a message about the server
# certificate, and no admission on the server.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

zt_init server_name
require_bins server client
zt_pki
topo_up 1

write_server_conf "$ZT_TMP/gw/server.conf"
must "server starts" start_server
slog=$(bg_log server)

write_client_conf "$ZT_TMP/laptop1/wrong-name.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice" wrong.corp.example
run_fg wrong-name 20 "$NS_L1" "$CLIENT_BIN" -c "$ZT_TMP/laptop1/wrong-name.conf"
check "server_name wrong.corp.example: client exits 1 (status $FG_STATUS)" \
	test "$FG_STATUS" = 1
check "server_name wrong.corp.example: message mentions the server certificate" \
	grep -qi "server certificate" "$(bg_log wrong-name)"

# server_ca = the device CA: the gateway's certificate does not verify.
write_client_conf "$ZT_TMP/laptop1/wrong-ca.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
sed -i 's|^server_ca = .*|server_ca = "../pki/device-ca.crt";|' "$ZT_TMP/laptop1/wrong-ca.conf"
run_fg wrong-ca 20 "$NS_L1" "$CLIENT_BIN" -c "$ZT_TMP/laptop1/wrong-ca.conf"
check "server_ca = device CA: client exits 1 (status $FG_STATUS)" \
	test "$FG_STATUS" = 1
check "server_ca = device CA: message mentions the server certificate" \
	grep -qi "server certificate" "$(bg_log wrong-ca)"

check "server logs no admission" \
	test "$(count 'ztvpn-server: info: audit event=admit ' "$slog")" = 0
check "server is still running" bg_alive server

write_client_conf "$ZT_TMP/laptop1/client.conf" \
	"$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice"
check "with server_name gw.corp.example the same client connects" \
	start_client client1 "$NS_L1" "$ZT_TMP/laptop1/client.conf"

zt_finish
