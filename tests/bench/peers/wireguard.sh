# shellcheck shell=bash
# shellcheck disable=SC2034 # the PEER_* variables are read by compare.sh
# wireguard.sh: wireguard-go for tests/bench/compare.sh (contract in
# plain.sh); MODE is ignored. One wireguard-go process in the gateway
# namespace (wg0 100.64.20.1/24, UDP 192.0.2.1:51820) and one in laptop1
# (wg0 100.64.20.2/24, routes 198.51.100.0/24 through it), both MTU 1400,
# configured with `wg set` from keys made by `wg genkey` for this run.
# WireGuard's cipher is ChaCha20-Poly1305 by design (not selectable).
#
# The kernel's WireGuard module is never used: wireguard-go creates each
# wg0 as a TUN device (checked: its link kind must be "tun"). Its control
# socket would be /run/wireguard/wg0.sock; so that nothing is written
# outside $ZT_TMP, wireguard-go and wg run in a private mount namespace in
# which a directory of $ZT_TMP is bind-mounted over /run.

WGB_PORT=51820

# wgb_exec NS RUNDIR CMD...: CMD in NS, with RUNDIR as its /run.
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
wgb_exec() {
	local ns=$1 run=$2
	shift 2
	nsx "$ns" unshare --mount --propagation private -- \
		sh -c 'mount --bind "$0" /run && exec "$@"' "$run" "$@"
}

# wgb_start NAME NS RUNDIR: wireguard-go for wg0 in NS, in the foreground
# (so its recorded PID is the daemon itself), as background process NAME.
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
wgb_start() {
	local name=$1 ns=$2 run=$3
	mkdir -p "$run"
	start_bg "$name" "$ns" unshare --mount --propagation private -- \
		sh -c 'mount --bind "$0" /run && exec "$@"' "$run" \
		env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error wireguard-go -f wg0
	wait_for 5 test -S "$run/wireguard/wg0.sock"
}

# wgb_is_tun NS: wg0 in NS is a TUN device, not a kernel WireGuard link.
wgb_is_tun() {
	nsx "$1" ip -d -j link show dev wg0 |
		python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)[0]["linkinfo"]["info_kind"] != "tun")'
}

peer_wireguard_up() {
	local dir=$ZT_TMP/wireguard-$PEER_TAG gwpub lpub
	if ! command -v wireguard-go >/dev/null || ! command -v wg >/dev/null; then
		log "wireguard-go or wg is not installed"
		return 1
	fi
	mkdir -p "$dir"
	(umask 077 && wg genkey >"$dir/gw.key" && wg genkey >"$dir/laptop.key")
	gwpub=$(wg pubkey <"$dir/gw.key")
	lpub=$(wg pubkey <"$dir/laptop.key")

	wgb_start "$PEER_TAG-server" "$NS_GW" "$dir/gw-run" ||
		{ log "wireguard-go did not start in the gateway"; diag "$(bg_log "$PEER_TAG-server")"; return 1; }
	PEER_SRV_PID=$(bg_pid "$PEER_TAG-server")
	wgb_start "$PEER_TAG-client" "$NS_L1" "$dir/laptop-run" ||
		{ log "wireguard-go did not start in laptop1"; diag "$(bg_log "$PEER_TAG-client")"; return 1; }
	PEER_CLI_PID=$(bg_pid "$PEER_TAG-client")
	if ! wgb_is_tun "$NS_GW" || ! wgb_is_tun "$NS_L1"; then
		log "wg0 is not a TUN device made by wireguard-go"
		return 1
	fi

	wgb_exec "$NS_GW" "$dir/gw-run" wg set wg0 listen-port "$WGB_PORT" \
		private-key "$dir/gw.key" peer "$lpub" allowed-ips 100.64.20.2/32 || return 1
	ip -n "$NS_GW" addr add 100.64.20.1/24 dev wg0
	ip -n "$NS_GW" link set wg0 mtu 1400 up

	wgb_exec "$NS_L1" "$dir/laptop-run" wg set wg0 private-key "$dir/laptop.key" \
		peer "$gwpub" endpoint "$GW_LAN:$WGB_PORT" \
		allowed-ips 100.64.20.0/24,198.51.100.0/24 || return 1
	ip -n "$NS_L1" addr add 100.64.20.2/24 dev wg0
	ip -n "$NS_L1" link set wg0 mtu 1400 up
	ip -n "$NS_L1" route add 198.51.100.0/24 dev wg0
	PEER_DEV=wg0 PEER_GW_DEV=wg0
	PEER_NOTE="ChaCha20-Poly1305 (WireGuard's only cipher), TUN made by wireguard-go"
}

peer_wireguard_down() {
	# wireguard-go removes its TUN device and socket when it ends.
	bg_stop "$PEER_TAG-client"
	bg_stop "$PEER_TAG-server"
	ip -n "$NS_L1" link del wg0 2>/dev/null || true
	ip -n "$NS_GW" link del wg0 2>/dev/null || true
}
