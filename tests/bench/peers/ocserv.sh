# shellcheck shell=bash
# shellcheck disable=SC2034 # the PEER_* variables are read by compare.sh
# ocserv.sh: ocserv + openconnect for tests/bench/compare.sh (contract in
# plain.sh). MODE dtls: openconnect's defaults, data over DTLS once it is
# established (required: the row fails otherwise); MODE tls: openconnect
# --no-dtls, data over the TLS (CSTP) channel only.
#
# ocserv runs in the gateway namespace on 192.0.2.1:4443 (TCP and UDP) with
# its own ocserv.conf in $ZT_TMP: certificate authentication (the test
# PKI's server.crt; clients' certificates checked against device-ca.crt,
# user name from the CN), no PAM, no password file, no chroot, no occtl,
# socket and pid files in $ZT_TMP, pool 100.64.30.0/24 (dtls) or
# 100.64.31.0/24 (tls), the route to 198.51.100.0/24, MTU 1400, GnuTLS'
# default priorities (which pick AES-256-GCM). openconnect in laptop1
# presents devices/laptop-042, trusts server-ca.crt, reaches
# gw.corp.example at 192.0.2.1 (--resolve), and configures its TUN device
# with a small script of ours (address, MTU, the pushed routes) instead of
# vpnc-script, so nothing outside the namespace is touched.

OCB_PORT=4443
# ocserv's `mtu` is the outer one: it takes its channel's overhead off
# (measured with ocserv 1.1.6 / openconnect 9.01: DTLS 66 bytes, TLS 28)
# for the tunnel MTU, which is made 1400 for both modes here.
declare -A OCB_CONF_MTU=([dtls]=1466 [tls]=1428)

# ocb_script FILE: the interface script openconnect runs (reason=connect
# configures the device; the rest needs nothing: the device goes away
# with openconnect).
ocb_script() {
	cat >"$1" <<'EOF2'
#!/bin/sh
set -eu
[ "$reason" = connect ] || exit 0
ip link set dev "$TUNDEV" mtu "$INTERNAL_IP4_MTU" up
ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV"
i=0
while [ "$i" -lt "${CISCO_SPLIT_INC:-0}" ] && [ "$i" -lt 64 ]; do
	eval "net=\$CISCO_SPLIT_INC_${i}_ADDR len=\$CISCO_SPLIT_INC_${i}_MASKLEN"
	ip route add "$net/$len" dev "$TUNDEV"
	i=$((i + 1))
done
echo "configured $TUNDEV $INTERNAL_IP4_ADDRESS mtu $INTERNAL_IP4_MTU" >"$OCB_READY"
EOF2
	chmod 0755 "$1"
}

# ocb_listening NAME: ocserv NAME listens, or has exited (no use waiting).
ocb_listening() {
	port_listening "$NS_GW" "$OCB_PORT" || bg_dead "$1"
}

peer_ocserv_up() {
	local mode=$1 dir=$ZT_TMP/ocserv-$PEER_TAG net clog tls dtls
	local -a nodtls=()
	if ! command -v ocserv >/dev/null || ! command -v openconnect >/dev/null; then
		log "ocserv or openconnect is not installed"
		return 1
	fi
	case $mode in
	dtls) net=100.64.30.0/24 ;;
	tls) net=100.64.31.0/24 nodtls=(--no-dtls) ;;
	*) log "ocserv: unknown mode $mode"; return 1 ;;
	esac
	mkdir -p "$dir"
	cat >"$dir/ocserv.conf" <<EOF2
auth = "certificate"
listen-host = $GW_LAN
tcp-port = $OCB_PORT
udp-port = $OCB_PORT
run-as-user = nobody
run-as-group = nogroup
socket-file = $dir/ocserv.sock
pid-file = $dir/ocserv.pid
use-occtl = false
isolate-workers = true
server-cert = $ZT_PKI/server.crt
server-key = $ZT_PKI/server.key
ca-cert = $ZT_PKI/device-ca.crt
cert-user-oid = 2.5.4.3
max-clients = 16
max-same-clients = 2
rate-limit-ms = 0
keepalive = 32400
dpd = 90
mobile-dpd = 1800
switch-to-tcp-timeout = 25
try-mtu-discovery = false
mtu = ${OCB_CONF_MTU[$mode]}
auth-timeout = 60
cookie-timeout = 300
deny-roaming = false
rekey-time = 172800
rekey-method = ssl
log-level = 1
device = ocs
predictable-ips = true
ipv4-network = $net
route = 198.51.100.0/24
ping-leases = false
cisco-client-compat = true
EOF2
	ocb_script "$dir/ifup.sh"
	start_bg "$PEER_TAG-server" "$NS_GW" ocserv -f -c "$dir/ocserv.conf"
	PEER_SRV_PID=$(bg_pid "$PEER_TAG-server")
	if ! wait_for 10 ocb_listening "$PEER_TAG-server" || ! port_listening "$NS_GW" "$OCB_PORT"; then
		log "ocserv did not start"
		diag "$(bg_log "$PEER_TAG-server")"
		return 1
	fi
	start_bg "$PEER_TAG-client" "$NS_L1" env OCB_READY="$dir/ready" \
		openconnect --non-inter --resolve "gw.corp.example:$GW_LAN" \
		--cafile "$ZT_PKI/server-ca.crt" \
		-c "$ZT_PKI/devices/laptop-042.crt" -k "$ZT_PKI/devices/laptop-042.key" \
		--interface ocs0 --script "$dir/ifup.sh" "${nodtls[@]}" \
		"https://gw.corp.example:$OCB_PORT/"
	PEER_CLI_PID=$(bg_pid "$PEER_TAG-client")
	clog=$(bg_log "$PEER_TAG-client")
	if ! wait_for 20 test -s "$dir/ready"; then
		log "openconnect did not configure its interface"
		diag "$clog" "$(bg_log "$PEER_TAG-server")"
		return 1
	fi
	if [[ $mode == dtls ]] && ! wait_for 10 has_line 'Established DTLS connection' "$clog"; then
		log "openconnect: no DTLS connection within 10 s"
		diag "$clog" "$(bg_log "$PEER_TAG-server")"
		return 1
	fi
	PEER_DEV=ocs0 PEER_GW_DEV=ocs0
	tls=$(sed -n 's/.*with ciphersuite \(.*\)$/\1/p' "$clog" | tail -n1)
	dtls=$(sed -n 's/.*Established DTLS connection.*Ciphersuite \(.*\)\.$/\1/p' "$clog" | tail -n1)
	if [[ $mode == dtls ]]; then
		PEER_NOTE="DTLS ${dtls:-?}"
	else
		PEER_NOTE="TLS only (--no-dtls) ${tls:-?}"
	fi
}

peer_ocserv_down() {
	bg_stop "$PEER_TAG-client"
	bg_stop "$PEER_TAG-server"
	ip -n "$NS_L1" link del ocs0 2>/dev/null || true
}
