# shellcheck shell=bash
# shellcheck disable=SC2034 # the PEER_* variables are read by compare.sh
# ztvpn.sh: ztvpn for tests/bench/compare.sh (contract in plain.sh).
# MODE udp: server.conf has udp_listen = "192.0.2.1:8443" and the client
# moves the data to UDP on its own after admission; MODE tls: no
# udp_listen, the data stays on the TLS stream. Both: the gateway of
# write_server_conf (pool 100.64.0.0/24, tunnel MTU 1400, route
# 198.51.100.0/24, allow-all), alice on laptop-042, the default
# data_cipher (AES-256-GCM), and `workers = N;` when ZT_BENCH_WORKERS is
# set and this build accepts the key.
#
# PEER_NOTE names the path the client reports (`ztvpn-ctl status --json`,
# "path") once up and again after the measurement (peer_ztvpn_after), so a
# udp row that ran on the TLS stream, or fell back to it, says so; and
# how many UDP datagrams the server counted in and out over the
# measurement (`ztvpn-ctl metrics`, ztvpn_udp_datagrams_total). The
# cipher: on UDP the server's data_cipher (from its log); on the TLS
# stream the TLS 1.3 suite BoringSSL picks, which ztvpn does not
# configure: a probe handshake with bssl-tool (the same library and
# defaults as ztvpn-client) shows which.

ZTB_UDP_ENDPOINT=$GW_LAN:8443

# ztb_path SOCK: the "path" of the client's status, "" if it has none.
ztb_path() {
	timeout -k 2 5 "$CTL_BIN" -s "$1" --json status 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get("path", ""))' 2>/dev/null
}

# ztb_path_is SOCK WANT...: the client reports one of the paths WANT.
ztb_path_is() {
	local p w
	p=$(ztb_path "$1")
	shift
	for w in "$@"; do
		[[ $p == "$w" ]] && return 0
	done
	return 1
}

# ztb_dgrams SOCK: "IN OUT" of the server's ztvpn_udp_datagrams_total
# ("" if it has no such metric).
ztb_dgrams() {
	timeout -k 2 5 "$CTL_BIN" -s "$1" metrics 2>/dev/null | awk '
		/^ztvpn_udp_datagrams_total\{direction="in"\} / { i = $2; n++ }
		/^ztvpn_udp_datagrams_total\{direction="out"\} / { o = $2; n++ }
		END { if (n == 2) print i, o }'
}

ZTB_DGRAMS0=''

# ztb_tls_suite: the TLS 1.3 suite the server picks for a BoringSSL
# client with default settings (one handshake from laptop1, no data).
ztb_tls_suite() {
	nsx "$NS_L1" timeout -k 1 5 bssl-tool client -connect "$SERVER_ENDPOINT" \
		-server-name gw.corp.example -alpn-protos ztvpn/1 \
		-key "$ZT_PKI/devices/laptop-042.key" -cert "$ZT_PKI/devices/laptop-042.crt" \
		</dev/null 2>&1 | sed -n 's/^ *Cipher: //p' | head -n1
}

# ztb_path_name SOCK: the path for PEER_NOTE.
ztb_path_name() {
	local p
	p=$(ztb_path "$1")
	printf '%s' "${p:-unknown (status has no path)}"
}

peer_ztvpn_up() {
	local mode=$1 dir=$ZT_TMP/ztvpn-$PEER_TAG extra='' note='' cipher
	local sock=$dir/client.sock
	mkdir -p "$dir"
	case $mode in
	udp) extra="udp_listen = \"$ZTB_UDP_ENDPOINT\";" ;;
	tls) ;;
	*) log "ztvpn: unknown mode $mode"; return 1 ;;
	esac
	write_server_conf "$dir/server.conf" "$extra
control_socket = \"$dir/run/server.sock\";"
	if [[ -n ${ZT_BENCH_WORKERS:-} ]]; then
		if server_accepts "$dir/server.conf" "workers = $ZT_BENCH_WORKERS;"; then
			printf 'workers = %s;\n' "$ZT_BENCH_WORKERS" >>"$dir/server.conf"
			note="workers $ZT_BENCH_WORKERS, "
		else
			log "ztvpn: this build does not accept workers = $ZT_BENCH_WORKERS; using its default"
			note="workers: not in this build, "
		fi
	fi
	write_client_conf "$dir/client.conf" "$ZT_PKI/devices/laptop-042" "$ZT_PKI/users/alice" \
		gw.corp.example "control_socket = \"$sock\";"
	start_server "$PEER_TAG-server" "$dir/server.conf" || return 1
	PEER_SRV_PID=$(bg_pid "$PEER_TAG-server")
	start_client "$PEER_TAG-client" "$NS_L1" "$dir/client.conf" || return 1
	PEER_CLI_PID=$(bg_pid "$PEER_TAG-client")
	PEER_DEV=ztvpn0 PEER_GW_DEV=ztvpn0
	# The client probes UDP after admission; give it a few seconds ("" is
	# a status without a path: nothing to wait for).
	if [[ $mode == udp ]] && ! wait_for 5 ztb_path_is "$sock" udp ""; then
		log "ztvpn-udp: the client is not on UDP after 5 s"
	fi
	ZTB_DGRAMS0=$(ztb_dgrams "$dir/run/server.sock")
	if [[ $mode == udp ]]; then
		cipher=$(sed -n 's/.*UDP data channel on [^ ]* (\([^,)]*\).*/\1/p' \
			"$(bg_log "$PEER_TAG-server")" | head -n1)
		cipher="data ${cipher:-cipher not logged}"
	else
		cipher=$(ztb_tls_suite)
		cipher="TLS 1.3 ${cipher:-suite unknown}"
	fi
	PEER_NOTE="${note}path $(ztb_path_name "$sock"), $cipher"
	if has_line 'udp_listen: the UDP data channel is not available' "$(bg_log "$PEER_TAG-server")"; then
		PEER_NOTE+=", server: udp_listen not available"
	fi
}

# peer_ztvpn_after: after the measurement, the path again (a fallback to
# the TLS stream during the runs shows here).
peer_ztvpn_after() {
	local dir=$ZT_TMP/ztvpn-$PEER_TAG d1 i0 o0 i1 o1
	PEER_NOTE+=", path after the runs $(ztb_path_name "$dir/client.sock")"
	d1=$(ztb_dgrams "$dir/run/server.sock")
	if [[ -n $ZTB_DGRAMS0 && -n $d1 ]]; then
		read -r i0 o0 <<<"$ZTB_DGRAMS0"
		read -r i1 o1 <<<"$d1"
		PEER_NOTE+=", server UDP datagrams in $((i1 - i0)), out $((o1 - o0))"
	fi
}

peer_ztvpn_down() {
	bg_stop "$PEER_TAG-client"
	bg_stop "$PEER_TAG-server"
}
