# shellcheck shell=bash
# shellcheck disable=SC2034 # the PEER_* variables are read by compare.sh
# openvpn.sh: OpenVPN 2.6 for tests/bench/compare.sh (contract in
# plain.sh). MODE udp or tcp. Server in the gateway namespace on
# 192.0.2.1:1194, `dev tun`, topology subnet, pool 100.64.10.0/24 (udp) or
# 100.64.11.0/24 (tcp), pushes the route to 198.51.100.0/24; client in
# laptop1. Both: tun-mtu 1400, data-ciphers AES-256-GCM, TLS 1.3,
# disable-dco (the kernel's data channel offload is not in Debian 12's
# kernel; the user-space data path is what is compared), otherwise
# OpenVPN's defaults. Certificates: the test PKI's (server.crt, trusting
# device-ca.crt; the client presents devices/laptop-042).

OVB_PORT=1194

# ovb_conf_common PROTO: the lines server and client share.
ovb_conf_common() {
	cat <<EOF2
proto $1
dev-type tun
tun-mtu 1400
data-ciphers AES-256-GCM
tls-version-min 1.3
disable-dco
persist-key
verb 3
EOF2
}

# ovb_ready NAME: openvpn NAME logged "Initialization Sequence Completed",
# or has exited (no use waiting).
ovb_ready() {
	has_line 'Initialization Sequence Completed' "$(bg_log "$1")" || bg_dead "$1"
}

peer_openvpn_up() {
	local mode=$1 dir=$ZT_TMP/openvpn-$PEER_TAG net cipher
	local bin
	bin=$(command -v openvpn) || { log "openvpn is not installed"; return 1; }
	case $mode in
	udp) net=100.64.10.0 ;;
	tcp) net=100.64.11.0 ;;
	*) log "openvpn: unknown mode $mode"; return 1 ;;
	esac
	mkdir -p "$dir"
	{
		ovb_conf_common "$([[ $mode == udp ]] && echo udp || echo tcp-server)"
		cat <<EOF2
mode server
tls-server
local $GW_LAN
port $OVB_PORT
dev ovpn-gw
topology subnet
server $net 255.255.255.0
push "route 198.51.100.0 255.255.255.0"
ca $ZT_PKI/device-ca.crt
cert $ZT_PKI/server.crt
key $ZT_PKI/server.key
dh none
remote-cert-tls client
keepalive 10 60
EOF2
	} >"$dir/server.ovpn"
	{
		ovb_conf_common "$([[ $mode == udp ]] && echo udp || echo tcp-client)"
		cat <<EOF2
client
dev ovpn-cl
remote $GW_LAN $OVB_PORT
nobind
connect-retry-max 1
ca $ZT_PKI/server-ca.crt
cert $ZT_PKI/devices/laptop-042.crt
key $ZT_PKI/devices/laptop-042.key
remote-cert-tls server
verify-x509-name gw.corp.example name
EOF2
	} >"$dir/client.ovpn"
	start_bg "$PEER_TAG-server" "$NS_GW" "$bin" --config "$dir/server.ovpn"
	PEER_SRV_PID=$(bg_pid "$PEER_TAG-server")
	if ! wait_for 10 ovb_ready "$PEER_TAG-server" || bg_dead "$PEER_TAG-server"; then
		log "openvpn server did not start"
		diag "$(bg_log "$PEER_TAG-server")"
		return 1
	fi
	start_bg "$PEER_TAG-client" "$NS_L1" "$bin" --config "$dir/client.ovpn"
	PEER_CLI_PID=$(bg_pid "$PEER_TAG-client")
	if ! wait_for 20 ovb_ready "$PEER_TAG-client" || bg_dead "$PEER_TAG-client"; then
		log "openvpn client did not connect"
		diag "$(bg_log "$PEER_TAG-client")" "$(bg_log "$PEER_TAG-server")"
		return 1
	fi
	PEER_DEV=ovpn-cl PEER_GW_DEV=ovpn-gw
	cipher=$(sed -n "s/.*Data Channel: cipher '\\([^']*\\)'.*/\\1/p" "$(bg_log "$PEER_TAG-client")" | tail -n1)
	PEER_NOTE="over $mode, ${cipher:-AES-256-GCM}, user space (no DCO)"
}

peer_openvpn_down() {
	bg_stop "$PEER_TAG-client"
	bg_stop "$PEER_TAG-server"
}
