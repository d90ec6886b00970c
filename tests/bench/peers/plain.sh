# shellcheck shell=bash
# shellcheck disable=SC2034 # the PEER_* variables are read by compare.sh
# plain.sh: the baseline of tests/bench/compare.sh, no VPN: the laptop
# routes 198.51.100.0/24 via the gateway's LAN address and corp routes the
# laptops' 192.0.2.0/24 back, so packets cross the same two veth pairs and
# the gateway's forwarding as every tunnel's do, unencrypted.
#
# The peer contract (all peers/*.sh): peer_NAME_up MODE brings the path up
# and sets PEER_DEV (the laptop's interface towards corp), PEER_GW_DEV (the
# gateway's interface towards the laptop), PEER_SRV_PID and
# PEER_CLI_PID (roots of the process trees whose CPU time counts; empty
# when there are none) and PEER_NOTE (what the table should say about it);
# it returns 1 if the path did not come up. peer_NAME_after, if a peer
# defines it, runs after the measurement (to add to PEER_NOTE).
# peer_NAME_down undoes all of it, whether up succeeded or not. Background processes are named
# "$PEER_TAG-..." (PEER_TAG is set by compare.sh, unique per run).

peer_plain_up() {
	ip -n "$NS_L1" route add 198.51.100.0/24 via "$GW_LAN"
	ip -n "$NS_CORP" route add 192.0.2.0/24 via "$GW_CORP"
	PEER_DEV=eth0 PEER_GW_DEV=br0 PEER_SRV_PID='' PEER_CLI_PID='' PEER_NOTE='no tunnel, MTU 1500'
}

peer_plain_down() {
	ip -n "$NS_L1" route del 198.51.100.0/24 via "$GW_LAN" 2>/dev/null || true
	ip -n "$NS_CORP" route del 192.0.2.0/24 via "$GW_CORP" 2>/dev/null || true
}
