#!/usr/bin/env python3
"""Seeds for fuzz_gso (corpus/gso): reads of a TUN with IFF_VNET_HDR as the
kernel hands them over, a virtio_net_hdr (host order, little endian here)
then the IP packet: TCPv4 (with and without options), TCPv6, UDPv4/v6 USO,
a GSO_NONE packet with NEEDS_CSUM, TCP with ECN/CWR. Run from anywhere:
    python3 tests/fuzz/mkgso.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "gso")
NEEDS_CSUM, TCPV4, TCPV6, UDP_L4, ECN = 1, 1, 4, 5, 0x80


def csum_add(b, s=0):
    if len(b) % 2:
        b += b"\0"
    for i in range(0, len(b), 2):
        s += b[i] << 8 | b[i + 1]
    return s


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def packet(v, proto, payload, ipopt=b"", tcpopt=b"", flags=0x18):
    src = bytes([100, 64, 0, 1]) if v == 4 else bytes([0xFD] + [0] * 14 + [1])
    dst = bytes([100, 64, 0, 2]) if v == 4 else bytes([0xFD] + [0] * 14 + [2])
    if proto == 6:
        l4 = struct.pack(">HHIIBBHHH", 40000, 5001, 1000, 2000,
                         (20 + len(tcpopt)) // 4 << 4, flags, 501, 0, 0) + tcpopt
        at = 16
    else:
        l4 = struct.pack(">HHHH", 40000, 5001, 8 + len(payload), 0)
        at = 6
    l4len = len(l4) + len(payload)
    pseudo = fold(csum_add(src + dst) + proto + l4len)
    l4 = l4[:at] + struct.pack(">H", pseudo) + l4[at + 2:]
    if v == 4:
        ihl = 20 + len(ipopt)
        ip = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl // 4, 0, ihl + l4len,
                         0x1234, 0x4000, 64, proto, 0, src, dst) + ipopt
        ip = ip[:10] + struct.pack(">H", 0xFFFF ^ fold(csum_add(ip))) + ip[12:]
    else:
        ihl = 40
        ip = struct.pack(">IHBB16s16s", 0x60000000, l4len, proto, 64, src, dst)
    return ip + l4 + payload, ihl, len(l4)


def seed(name, v, proto, plen, gso, gtype, **kw):
    payload = bytes((i * 7 + 3) & 0xFF for i in range(plen))
    pkt, ihl, l4h = packet(v, proto, payload, **kw)
    hdr = struct.pack("<BBHHHH", NEEDS_CSUM, gtype, ihl + l4h if gtype else 0,
                      gso, ihl, 16 if proto == 6 else 6)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(hdr + pkt)


os.makedirs(OUT, exist_ok=True)
seed("tcp4", 4, 6, 1348 * 5 + 100, 1348, TCPV4)
seed("tcp4_opts", 4, 6, 536 * 7, 536, TCPV4, ipopt=b"\1\1\1\0",
     tcpopt=b"\1\1\x08\x0a" + b"\0\0\0\1\0\0\0\2")
seed("tcp6", 6, 6, 1400 * 3 + 1, 1400, TCPV6)
seed("tcp4_ecn", 4, 6, 1000 * 4, 1000, TCPV4 | ECN, flags=0x90)
seed("udp4", 4, 17, 1200 * 4 + 500, 1200, UDP_L4)
seed("udp6", 6, 17, 1000 * 3, 1000, UDP_L4)
seed("none_tcp4", 4, 6, 700, 0, 0)
seed("tiny_gso", 6, 6, 9, 1, TCPV6)
