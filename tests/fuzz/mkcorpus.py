#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses into corpus/NAME/.

A few small valid inputs per parser, built here byte by byte from the
formats in common/PROTOCOL.md, so the fuzzers start from the accepted
language instead of searching for it. Run it again after a format change:
    python3 tests/fuzz/mkcorpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, label, data):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, label), "wb") as f:
        f.write(data)


def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def vec16(b):
    return u16(len(b)) + b


def frame(t, body):
    return u8(t) + vec16(body)


def attr(t, value):
    return u8(t) + vec16(value)


def pattern(n, seed):
    return bytes((seed + i * 31) & 0xFF for i in range(n))


# USER_PROOF: version, chain, scheme, signature.
def proof(certs, scheme, sig):
    chain = b"".join(vec16(c) for c in certs)
    return u8(1) + vec16(chain) + u16(scheme) + vec16(sig)


# A DER-looking certificate prefix makes no difference to the parser but
# keeps the seeds realistic.
cert_a = b"\x30\x82\x01\x2c" + pattern(300, 1)
cert_b = b"\x30\x82\x00\x60" + pattern(96, 2)
write("user_proof", "no-cert", proof([], 0x0807, pattern(64, 3)))
write("user_proof", "one-cert-p256", proof([cert_a], 0x0403, pattern(71, 4)))
write("user_proof", "four-certs", proof([cert_a, cert_b, cert_b, cert_a], 0x0804,
                                        pattern(256, 5)))
write("user_proof", "ed25519", proof([cert_b], 0x0807, pattern(64, 6)))

# ADMIT attributes.
ADDR4, ADDR6, MTU, ROUTE, DNS, DOMAIN, KEEPALIVE, SESSION = range(1, 9)
v4 = lambda a, b, c, d: bytes([a, b, c, d])
v6 = bytes.fromhex("fd00005a000000000000000000000002")
base = (attr(ADDR4, v4(100, 64, 0, 2) + u8(24)) + attr(MTU, u16(1400)) +
        attr(KEEPALIVE, u16(10)) + attr(SESSION, struct.pack(">Q", 0x0123456789ABCDEF)))
write("admit", "minimal", base)
full = (attr(ADDR4, v4(100, 64, 0, 2) + u8(24)) + attr(ADDR6, v6 + u8(64)) +
        attr(MTU, u16(1400)) + attr(KEEPALIVE, u16(25)) +
        attr(SESSION, struct.pack(">Q", 42)) +
        attr(ROUTE, v4(198, 51, 100, 0) + u8(24)) +
        attr(ROUTE, bytes.fromhex("fd000077000000000000000000000000") + u8(64)) +
        attr(DNS, v4(198, 51, 100, 53)) +
        attr(DNS, bytes.fromhex("fd000077000000000000000000000053")) +
        attr(DOMAIN, b"corp.example") + attr(DOMAIN, b"lab-1.corp.example"))
write("admit", "full", full)
# ROUTES uses the same attributes (ROUTE only)
write("admit", "routes", attr(ROUTE, v4(198, 51, 100, 11) + u8(32)) +
      attr(ROUTE, v4(0, 0, 0, 0) + u8(0)) +
      attr(ROUTE, bytes.fromhex("fd00c000000000000000000000000000") + u8(64)))
write("admit", "reordered", attr(SESSION, struct.pack(">Q", 7)) +
      attr(KEEPALIVE, u16(3600)) + attr(ADDR4, v4(10, 0, 0, 2) + u8(32)) +
      attr(MTU, u16(576)))

# REJECT / CLOSE reasons.
def reason(code, text):
    return u16(code) + vec16(text)


write("reason", "user-auth", reason(2, b"user certificate is not issued by the user CA"))
write("reason", "empty", reason(6, b""))
write("reason", "max", reason(9, b"x" * 512))

# Frame streams: several frames back to back, the last one cut short.
stream = (frame(6, b"") + frame(5, pattern(40, 7)) + frame(4, reason(6, b"bye")) +
          frame(2, base))
write("frame", "mixed", stream)
write("frame", "proof-then-data", frame(1, proof([cert_b], 0x0807, pattern(64, 8))) +
      frame(5, pattern(1400, 9)))
write("frame", "truncated", frame(5, pattern(100, 10))[:50])


# IP packets.
def ipv4(payload, ihl=5, proto=17):
    opts = b"\x94\x04\x00\x00" * (ihl - 5)
    total = ihl * 4 + len(payload)
    hdr = (u8(0x40 | ihl) + u8(0) + u16(total) + u16(1) + u16(0x4000) + u8(64) +
           u8(proto) + u16(0) + v4(100, 64, 0, 2) + v4(198, 51, 100, 7))
    return hdr + opts + payload


def ipv6(payload, nh=58):
    return (bytes([0x60, 0, 0, 0]) + u16(len(payload)) + u8(nh) + u8(64) + v6 +
            bytes.fromhex("fd000077000000000000000000000007") + payload)


write("packet", "v4-udp", ipv4(pattern(28, 11)))
write("packet", "v4-options", ipv4(pattern(8, 12), ihl=6, proto=1))
write("packet", "v6-icmp", ipv6(pattern(16, 13)))
write("packet", "v4-header-only", ipv4(b"", proto=6))


# Transport headers, as zt_pkt_parse reads them for policy and conntrack.
def tcp(sport, dport, flags):
    return u16(sport) + u16(dport) + struct.pack(">II", 100, 200) + u8(0x50) + u8(flags) + \
        u16(65535) + u16(0) + u16(0)


def udp(sport, dport, data=b"data"):
    return u16(sport) + u16(dport) + u16(8 + len(data)) + u16(0) + data


def icmp(t, code, word, body=b""):
    return u8(t) + u8(code) + u16(0) + struct.pack(">I", word) + body


def ext(nh, body=b"\0" * 6):
    # hop-by-hop, routing or destination options: next header, length in
    # 8-byte units after the first 8, then the rest
    return u8(nh) + u8((len(body) + 2) // 8 - 1) + body


def frag6(nh, offset, more=0):
    return u8(nh) + u8(0) + u16(offset << 3 | more) + struct.pack(">I", 0x1234)


def ipv4_frag(payload, proto, frag):
    p = bytearray(ipv4(payload, proto=proto))
    p[6:8] = u16(frag)
    return bytes(p)


write("packet", "v4-tcp-syn", ipv4(tcp(40000, 443, 0x02), proto=6))
write("packet", "v4-udp-dns", ipv4(udp(5353, 53), proto=17))
write("packet", "v4-echo", ipv4(icmp(8, 0, 0x04D20007, b"ping"), proto=1))
write("packet", "v4-later-fragment", ipv4_frag(udp(5353, 53), 17, 0x2000 | 185))
write("packet", "v6-tcp", ipv6(tcp(40000, 22, 0x12), nh=6))
write("packet", "v6-echo", ipv6(icmp(128, 0, 0xBEEF0001), nh=58))
write("packet", "v6-ext-chain", ipv6(ext(60) + ext(44, b"\0" * 14) + frag6(6, 0, 1) +
                                     tcp(40000, 443, 0x10), nh=0))
write("packet", "v6-later-fragment", ipv6(frag6(17, 185) + udp(5353, 53), nh=44))
write("packet", "v6-ah", ipv6(u8(6) + u8(4) + b"\0" * 22 + tcp(1, 2, 0x10), nh=51))
# one byte short of the ports (TCP needs 14, UDP 8)
write("packet", "v4-tcp-short", ipv4(tcp(40000, 443, 0x02)[:13], proto=6))
write("packet", "v6-udp-short", ipv6(udp(5353, 53)[:7], nh=17))
quoted4 = ipv4(udp(40000, 53), proto=17)
write("packet", "v4-error-udp", ipv4(icmp(3, 3, 0, quoted4), proto=1))
write("packet", "v4-error-echo", ipv4(icmp(11, 0, 0, ipv4(icmp(8, 0, 0x00070001), proto=1)),
                                      proto=1))
quoted6 = ipv6(tcp(40000, 443, 0x18) + b"x" * 64, nh=6)
write("packet", "v6-error-tcp", ipv6(icmp(2, 0, 1280, quoted6[:48]), nh=58))


# Flows: [u8 flags][u8 seconds][u16-prefixed packet]..., flags bit 0 = from
# the client (fuzz_flow.c).
def step(from_client, wait, packet):
    return u8(1 if from_client else 0) + u8(wait) + vec16(packet)


write("flow", "tcp-open-close",
      step(1, 0, ipv4(tcp(40000, 443, 0x02), proto=6)) +
      step(0, 0, ipv4(tcp(443, 40000, 0x12), proto=6)) +
      step(1, 1, ipv4(tcp(40000, 443, 0x11), proto=6)) +
      step(0, 20, ipv4(tcp(443, 40000, 0x10), proto=6)))
write("flow", "echo-and-error",
      step(1, 0, ipv4(icmp(8, 0, 0x04D20001), proto=1)) +
      step(0, 0, ipv4(icmp(0, 0, 0x04D20001), proto=1)) +
      step(0, 0, ipv4(icmp(3, 3, 0, quoted4), proto=1)) +
      step(1, 40, ipv6(icmp(128, 0, 0xBEEF0001), nh=58)))
write("flow", "many-udp",
      b"".join(step(i % 2, i % 3, ipv4(udp(1000 + i, 53), proto=17)) for i in range(20)))

# Configuration files, as the gateway and the client read them.
write("conf", "server", b"""# gateway
listen = "0.0.0.0:8443";
tls = {
  certificate = "server.crt";
  private_key = "/etc/ztvpn/server.key";
  device_ca = "device-ca.crt";
  user_ca = "user-ca.crt";
  crl = [ "device-ca.crl", "user-ca.crl" ];
};
tunnel = {
  interface = "ztvpn0";
  mtu = 1400;
  pool4 = "100.64.0.0/24";
  routes = [ "198.51.100.0/24" ];
  dns = { servers = [ "198.51.100.53" ]; domains = [ "corp.example" ]; };
  keepalive = 10;
};
""")
write("conf", "client", b"""server = "gw.corp.example:8443";
server_name = "gw.corp.example";
server_ca = "server-ca.crt";
device = { certificate = "laptop.crt"; private_key = "laptop.key"; };
user = { certificate = "alice.crt"; private_key = "alice.key"; };
tunnel = { interface = "ztvpn0"; };
""")
write("conf", "types", b"""a = 1; b = -7; c = 1.5; d = 10L; e = true; f = 0x1F;
g = ( "x", 1, { h = "y"; } ); i = [ 1, 2 ]; j = ""; k = "s" "t";
""")
write("conf", "include", b'a = 1;\n@include "inc.conf"\ng = { @include "inc.conf" };\n')
write("conf", "syntax-error", b"a = 1;\nb = ;\n")


# UDP data channel datagrams (fuzz_dgram.c): [u8 selector][datagram], sealed
# with master 00 01 .. 1f as common/dkeys.h and common/dgram.h describe.
# Selector: bit 0 cipher (ChaCha20-Poly1305), bit 1 direction (s2c), bits 2-3
# the receiver's state in the harness. Needs python3-cryptography.
def dgram_seeds():
    import hashlib
    import hmac
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    except ImportError:
        print("mkcorpus: no python3-cryptography, dgram seeds left as they are")
        return

    def expand(prk, info, n):  # HKDF-Expand-SHA256, n <= 32
        return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:n]

    def epoch_keys(direction, epoch):
        s = expand(bytes(range(32)), b"ztvpn %s epoch 0" % direction, 32)
        for e in range(epoch):
            s = expand(s, b"ztvpn next epoch" + struct.pack(">I", e + 1), 32)
        e = struct.pack(">I", epoch)
        return expand(s, b"ztvpn key" + e, 32), expand(s, b"ztvpn iv" + e, 12)

    def datagram(chacha, direction, epoch, counter, plain):
        key, iv = epoch_keys(direction, epoch)
        hdr = struct.pack(">BBHIQ", 1, epoch & 0xFF, 0, 0x0A0B0C0D, counter)
        nonce = bytes(a ^ b for a, b in zip(iv, bytes(4) + struct.pack(">Q", counter)))
        aead = ChaCha20Poly1305(key) if chacha else AESGCM(key)
        return hdr + aead.encrypt(nonce, plain, hdr)

    ping = ipv4(icmp(8, 0, 0x04D20001, b"ztvpn" * 8), proto=1)
    # (state, epoch, counter, plaintext): what each state accepts or refuses
    cases = [(0, 0, 0, ping), (0, 1, 0, ping), (1, 0, 3, ping), (1, 0, 1, b""),
             (2, 0, 2, ping), (2, 2, 0, b""), (3, 0, 2, ping), (3, 1, 1, b"")]
    for chacha in (0, 1):
        for d, direction in enumerate((b"c2s", b"s2c")):
            for state, epoch, counter, plain in cases:
                sel = chacha | d << 1 | state << 2
                label = "%s-%s-s%d-e%d-c%d" % ("chacha" if chacha else "aes",
                                                direction.decode(), state, epoch, counter)
                write("dgram", label,
                      u8(sel) + datagram(chacha, direction, epoch, counter, plain))
    write("dgram", "short", u8(0) + bytes([1, 0, 0, 0, 10, 11, 12, 13]) + bytes(8))


dgram_seeds()
