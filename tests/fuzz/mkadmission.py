#!/usr/bin/env python3
"""Writes the fixed user CA of fuzz_admission and its seed corpus.

fuzz_admission checks USER_PROOF bodies against one user CA (with its CRL)
and one fixed exporter value, so that seeds made here reach the chain
verification and the signature check instead of stopping at the parser:

    data/admission-ca.pem   the user CA (ECDSA P-256, valid 100 years)
    data/admission-ca.crl   its CRL, revoking "dave" (valid 100 years)
    data/admission-inter.crl  the CRL of an intermediate CA under it
    corpus/admission/*      proofs: valid (P-256, Ed25519, RSA-PSS, through
                            an intermediate), expired, revoked, foreign CA,
                            no certificate, wrong scheme, wrong exporter

The keys are thrown away. Needs the openssl CLI. Run it again after a
format change (and commit the results):
    python3 tests/fuzz/mkadmission.py
"""
import os
import shutil
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# Keep in step with fuzz_admission.c: exporter[i] = i.
EXPORTER = bytes(range(32))
MESSAGE = b"ztvpn user proof v1\x00" + EXPORTER

CNF = """[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {d}
database = $dir/index.txt
serial = $dir/serial
crlnumber = $dir/crlnumber
new_certs_dir = $dir/newcerts
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
default_days = 36500
default_crl_days = 36500
policy = policy_any
unique_subject = no
preserve = yes
email_in_dn = no
[ policy_any ]
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ ext_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ ext_client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""

ALGS = {
    "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "ed25519": ["-algorithm", "ED25519"],
    "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
}


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(tmp, name, subject, issuer=None):
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "newcerts"))
    open(os.path.join(d, "index.txt"), "w").close()
    for f in ("serial", "crlnumber"):
        with open(os.path.join(d, f), "w") as fh:
            fh.write("1000\n")
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as fh:
        fh.write(CNF.format(d=d))
    key = os.path.join(d, "ca.key")
    run("openssl", "genpkey", *ALGS["p256"], "-out", key)
    if issuer is None:
        run("openssl", "req", "-x509", "-new", "-config", cnf, "-key", key,
            "-subj", subject, "-days", "36500", "-extensions", "ext_ca",
            "-out", os.path.join(d, "ca.crt"))
    else:
        csr = os.path.join(d, "ca.csr")
        run("openssl", "req", "-new", "-config", cnf, "-key", key, "-subj",
            subject, "-out", csr)
        run("openssl", "ca", "-batch", "-notext", "-config",
            os.path.join(tmp, issuer, "openssl.cnf"), "-extensions", "ext_ca",
            "-in", csr, "-out", os.path.join(d, "ca.crt"))
    return d


def issue(tmp, ca, name, alg, subject, dates=()):
    key = os.path.join(tmp, name + ".key")
    csr = os.path.join(tmp, name + ".csr")
    crt = os.path.join(tmp, name + ".crt")
    cnf = os.path.join(tmp, ca, "openssl.cnf")
    run("openssl", "genpkey", *ALGS[alg], "-out", key)
    run("openssl", "req", "-new", "-config", cnf, "-key", key, "-subj",
        subject, "-out", csr)
    run("openssl", "ca", "-batch", "-notext", "-config", cnf, "-extensions",
        "ext_client", *dates, "-in", csr, "-out", crt)
    return crt, key


def der(crt):
    return subprocess.run(["openssl", "x509", "-in", crt, "-outform", "DER"],
                          check=True, capture_output=True).stdout


def sign(tmp, key, alg, message=MESSAGE):
    msg = os.path.join(tmp, "msg")
    with open(msg, "wb") as fh:
        fh.write(message)
    if alg == "ed25519":
        args = ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", msg]
    elif alg == "rsa":
        args = ["openssl", "dgst", "-sha256", "-sign", key, "-sigopt",
                "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest", msg]
    else:
        args = ["openssl", "dgst", "-sha256", "-sign", key, msg]
    return subprocess.run(args, check=True, capture_output=True).stdout


SCHEME = {"p256": 0x0403, "ed25519": 0x0807, "rsa": 0x0804}


def vec16(b):
    return struct.pack(">H", len(b)) + b


def proof(certs, scheme, sig):
    return (b"\x01" + vec16(b"".join(vec16(c) for c in certs)) +
            struct.pack(">H", scheme) + vec16(sig))


def main():
    corpus = os.path.join(HERE, "corpus", "admission")
    data = os.path.join(HERE, "data")
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(data, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="mkadmission.")
    try:
        make_ca(tmp, "ca", "/O=ztvpn fuzz/CN=Fuzz User CA")
        make_ca(tmp, "inter", "/O=ztvpn fuzz/CN=Fuzz User Intermediate", "ca")
        make_ca(tmp, "other", "/O=ztvpn fuzz/CN=Fuzz Device CA")
        users = {
            "alice": issue(tmp, "ca", "alice", "p256",
                           "/O=ztvpn fuzz/OU=engineering/OU=admins/CN=alice"),
            "erin": issue(tmp, "ca", "erin", "ed25519", "/OU=ops/CN=erin"),
            "rob": issue(tmp, "ca", "rob", "rsa", "/CN=rob"),
            "ivy": issue(tmp, "inter", "ivy", "p256", "/OU=research/CN=ivy"),
            "carol": issue(tmp, "ca", "carol", "p256", "/CN=carol",
                           ("-startdate", "20200101000000Z", "-enddate",
                            "20200201000000Z")),
            "dave": issue(tmp, "ca", "dave", "p256", "/CN=dave"),
            "mallory": issue(tmp, "other", "mallory", "p256", "/CN=mallory"),
        }
        run("openssl", "ca", "-config", os.path.join(tmp, "ca", "openssl.cnf"),
            "-revoke", users["dave"][0])
        run("openssl", "ca", "-config", os.path.join(tmp, "ca", "openssl.cnf"),
            "-gencrl", "-out", os.path.join(data, "admission-ca.crl"))
        run("openssl", "ca", "-config", os.path.join(tmp, "inter", "openssl.cnf"),
            "-gencrl", "-out", os.path.join(data, "admission-inter.crl"))
        shutil.copy(os.path.join(tmp, "ca", "ca.crt"),
                    os.path.join(data, "admission-ca.pem"))
        inter = der(os.path.join(tmp, "inter", "ca.crt"))

        def write(label, body):
            with open(os.path.join(corpus, label), "wb") as fh:
                fh.write(body)

        def user_proof(name, alg, chain=(), scheme=None, message=MESSAGE):
            crt, key = users[name]
            return proof([der(crt), *chain], scheme or SCHEME[alg],
                         sign(tmp, key, alg, message))

        write("valid-p256", user_proof("alice", "p256"))
        write("valid-ed25519", user_proof("erin", "ed25519"))
        write("valid-rsa-pss", user_proof("rob", "rsa"))
        write("valid-chain", user_proof("ivy", "p256", chain=[inter]))
        write("leaf-without-intermediate", user_proof("ivy", "p256"))
        write("expired", user_proof("carol", "p256"))
        write("revoked", user_proof("dave", "p256"))
        write("other-ca", user_proof("mallory", "p256"))
        write("wrong-scheme", user_proof("alice", "p256", scheme=0x0807))
        write("wrong-exporter", user_proof("alice", "p256",
                                           message=MESSAGE[:-1] + b"\xff"))
        write("no-cert", proof([], 0x0403, b"\x30\x06\x02\x01\x01\x02\x01\x01"))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
