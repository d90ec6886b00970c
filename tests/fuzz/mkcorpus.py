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
