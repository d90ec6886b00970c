/* tls + conn: real TLS 1.3 handshakes between zt_tls_server_ctx and
 * zt_tls_client_ctx over a socketpair, in one process, with certificates
 * made here; then framed messages through zt_conn in both directions. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/ssl.h>

#include "conn.h"
#include "frame.h"
#include "identity.h"
#include "proto.h"
#include "testutil.h"
#include "tls.h"
#include "userproof.h"

#define SERVER_NAME "gw.corp.example"
#define OUT_MAX (1u << 20)

/* Files of the test PKI, made once for all tests. */
static struct {
  struct tu_dir dir;
  char server_crt[PATH_MAX], server_key[PATH_MAX], server_ca[PATH_MAX];
  char device_ca[PATH_MAX], device_crl[PATH_MAX];
  char device_crt[PATH_MAX], device_key[PATH_MAX];
  char ed_crt[PATH_MAX], ed_key[PATH_MAX];
  char revoked_crt[PATH_MAX], revoked_key[PATH_MAX];
  char rogue_crt[PATH_MAX], rogue_key[PATH_MAX];
  char shared_key[PATH_MAX];
} pki;

static X509 *issue_leaf(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *key, const char *cn,
                        long serial, const char *eku, const char *san) {
  const struct tu_rdn subj[] = {{NID_organizationName, "ztvpn test"},
                                {NID_organizationalUnitName, "managed"},
                                {NID_commonName, cn},
                                {0, NULL}};
  struct tu_cert_spec spec = {.subject = subj, .serial = serial, .eku = eku,
                              .san = san, .issuer = ca, .issuer_key = ca_key};
  return tu_cert_new(&spec, key);
}

/* Writes a leaf + key pair NAME.crt / NAME.key. */
static void write_pair(X509 *ca, EVP_PKEY *ca_key, enum tu_key_type type,
                       const char *name, const char *cn, long serial, const char *eku,
                       const char *san, char *crt_path, char *key_path) {
  char file[64];
  EVP_PKEY *key = tu_key_new(type);
  X509 *x = issue_leaf(ca, ca_key, key, cn, serial, eku, san);
  snprintf(file, sizeof(file), "%s.crt", name);
  tu_write_cert(&pki.dir, file, x, crt_path);
  snprintf(file, sizeof(file), "%s.key", name);
  tu_write_key(&pki.dir, file, key, 0600, key_path);
  X509_free(x);
  EVP_PKEY_free(key);
}

static int setup(void **state) {
  EVP_PKEY *server_ca_key, *device_ca_key, *rogue_ca_key;
  tu_dir_make(&pki.dir);
  X509 *server_ca = tu_ca_new("test server CA", &server_ca_key);
  X509 *device_ca = tu_ca_new("test device CA", &device_ca_key);
  X509 *rogue_ca = tu_ca_new("test rogue CA", &rogue_ca_key);
  tu_write_cert(&pki.dir, "server-ca.crt", server_ca, pki.server_ca);
  tu_write_cert(&pki.dir, "device-ca.crt", device_ca, pki.device_ca);
  write_pair(server_ca, server_ca_key, TU_P256, "server", SERVER_NAME, 2, "serverAuth",
             "DNS:" SERVER_NAME, pki.server_crt, pki.server_key);
  write_pair(device_ca, device_ca_key, TU_P256, "device", "laptop-042", 3, "clientAuth",
             NULL, pki.device_crt, pki.device_key);
  write_pair(device_ca, device_ca_key, TU_ED25519, "ed", "laptop-ed", 4, "clientAuth",
             NULL, pki.ed_crt, pki.ed_key);
  write_pair(device_ca, device_ca_key, TU_P256, "revoked", "laptop-013", 0x66,
             "clientAuth", NULL, pki.revoked_crt, pki.revoked_key);
  write_pair(rogue_ca, rogue_ca_key, TU_P256, "rogue", "laptop-666", 5, "clientAuth",
             NULL, pki.rogue_crt, pki.rogue_key);
  static const long revoked[] = {0x66};
  X509_CRL *crl = tu_crl_new(device_ca, device_ca_key, revoked, 1, 86400);
  tu_write_crl(&pki.dir, "device-ca.crl", crl, pki.device_crl);
  /* a copy of the server key that others may read */
  EVP_PKEY *k = tu_key_new(TU_P256);
  tu_write_key(&pki.dir, "shared.key", k, 0644, pki.shared_key);
  EVP_PKEY_free(k);
  X509_CRL_free(crl);
  X509_free(server_ca);
  X509_free(device_ca);
  X509_free(rogue_ca);
  EVP_PKEY_free(server_ca_key);
  EVP_PKEY_free(device_ca_key);
  EVP_PKEY_free(rogue_ca_key);
  return 0;
}

static int teardown(void **state) {
  tu_dir_remove(&pki.dir);
  return 0;
}

/* ---- a connected pair ---------------------------------------------------- */

struct pair {
  struct zt_conn srv, cli;
  enum zt_io srv_hs, cli_hs; /* last handshake result */
};

static SSL_CTX *server_ctx(int with_crl) {
  char err[512] = "";
  const char *crls[] = {pki.device_crl};
  X509_STORE *store = zt_trust_load(pki.device_ca, crls, with_crl ? 1 : 0, err, sizeof(err));
  if (!store) fail_msg("device store: %s", err);
  SSL_CTX *ctx = zt_tls_server_ctx(pki.server_crt, pki.server_key, store, err, sizeof(err));
  if (!ctx) fail_msg("server ctx: %s", err);
  return ctx;
}

static SSL_CTX *client_ctx(const char *crt, const char *key, const char *server_ca) {
  char err[512] = "";
  SSL_CTX *ctx = zt_tls_client_ctx(crt, key, server_ca, err, sizeof(err));
  if (!ctx) fail_msg("client ctx: %s", err);
  return ctx;
}

static void pair_open(struct pair *p, SSL_CTX *sctx, SSL_CTX *cctx, size_t out_max) {
  int fds[2];
  memset(p, 0, sizeof(*p));
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  assert_int_equal(zt_conn_init(&p->srv, fds[0], sctx, 1, out_max), 1);
  assert_int_equal(zt_conn_init(&p->cli, fds[1], cctx, 0, out_max), 1);
  /* the connections hold their own references */
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  p->srv_hs = p->cli_hs = ZT_IO_WANT;
}

static void pair_close(struct pair *p) {
  zt_conn_free(&p->srv);
  zt_conn_free(&p->cli);
}

/* Drives both handshakes until each has finished or failed (bounded). */
static void pair_handshake(struct pair *p) {
  for (int i = 0; i < 100; i++) {
    if (p->cli_hs == ZT_IO_WANT) p->cli_hs = zt_conn_handshake(&p->cli);
    if (p->srv_hs == ZT_IO_WANT) p->srv_hs = zt_conn_handshake(&p->srv);
    if (p->cli_hs != ZT_IO_WANT && p->srv_hs != ZT_IO_WANT) return;
  }
}

/* Opens a pair with the standard server and the given client credentials. */
static void pair_standard(struct pair *p, const char *crt, const char *key,
                          const char *expect_name) {
  pair_open(p, server_ctx(0), client_ctx(crt, key, pki.server_ca), OUT_MAX);
  if (expect_name) assert_int_equal(zt_tls_client_expect_name(p->cli.ssl, expect_name), 1);
  pair_handshake(p);
}

/* Reads on |c| until it reports something other than WANT (bounded). */
static enum zt_io read_until_event(struct zt_conn *c) {
  enum zt_io r = ZT_IO_WANT;
  for (int i = 0; i < 50 && r == ZT_IO_WANT; i++) r = zt_conn_read(c);
  return r;
}

/* ---- handshakes ------------------------------------------------------------ */

static void test_mutual_auth(void **state) {
  struct pair p;
  pair_standard(&p, pki.device_crt, pki.device_key, SERVER_NAME);
  assert_int_equal(p.cli_hs, ZT_IO_OK);
  assert_int_equal(p.srv_hs, ZT_IO_OK);
  assert_int_equal(SSL_version(p.cli.ssl), TLS1_3_VERSION);
  assert_int_equal(SSL_get_verify_result(p.cli.ssl), X509_V_OK);
  assert_int_equal(SSL_get_verify_result(p.srv.ssl), X509_V_OK);
  assert_int_equal(zt_tls_alpn_ok(p.cli.ssl), 1);
  assert_int_equal(zt_tls_alpn_ok(p.srv.ssl), 1);
  /* the server sees the device certificate */
  X509 *peer = SSL_get_peer_certificate(p.srv.ssl);
  assert_non_null(peer);
  struct zt_identity id;
  char err[256];
  assert_int_equal(zt_identity_from_cert(peer, &id, err, sizeof(err)), 1);
  assert_string_equal(id.name, "laptop-042");
  assert_int_equal(id.ngroups, 1);
  X509_free(peer);
  /* the server name went out as SNI */
  const char *sni = SSL_get_servername(p.srv.ssl, TLSEXT_NAMETYPE_host_name);
  assert_non_null(sni);
  assert_string_equal(sni, SERVER_NAME);
  /* both ends export the same value; it is not all zero */
  uint8_t ec[ZT_EXPORTER_LEN], es[ZT_EXPORTER_LEN], zero[ZT_EXPORTER_LEN] = {0};
  assert_int_equal(zt_proof_exporter(p.cli.ssl, ec), 1);
  assert_int_equal(zt_proof_exporter(p.srv.ssl, es), 1);
  assert_memory_equal(ec, es, ZT_EXPORTER_LEN);
  assert_memory_not_equal(ec, zero, ZT_EXPORTER_LEN);
  /* no session resumption */
  assert_int_equal(SSL_session_reused(p.cli.ssl), 0);
  pair_close(&p);
}

static void test_exporter_differs_per_session(void **state) {
  struct pair a, b;
  uint8_t ea[ZT_EXPORTER_LEN], eb[ZT_EXPORTER_LEN];
  pair_standard(&a, pki.device_crt, pki.device_key, NULL);
  pair_standard(&b, pki.device_crt, pki.device_key, NULL);
  assert_int_equal(a.cli_hs, ZT_IO_OK);
  assert_int_equal(b.cli_hs, ZT_IO_OK);
  assert_int_equal(zt_proof_exporter(a.cli.ssl, ea), 1);
  assert_int_equal(zt_proof_exporter(b.cli.ssl, eb), 1);
  assert_memory_not_equal(ea, eb, ZT_EXPORTER_LEN);
  pair_close(&a);
  pair_close(&b);
}

static void test_ed25519_device(void **state) {
  struct pair p;
  pair_standard(&p, pki.ed_crt, pki.ed_key, SERVER_NAME);
  assert_int_equal(p.cli_hs, ZT_IO_OK);
  assert_int_equal(p.srv_hs, ZT_IO_OK);
  pair_close(&p);
}

static void test_device_from_wrong_ca(void **state) {
  struct pair p;
  char buf[256];
  pair_standard(&p, pki.rogue_crt, pki.rogue_key, SERVER_NAME);
  assert_int_equal(p.srv_hs, ZT_IO_ERR);
  assert_int_equal(SSL_get_verify_result(p.srv.ssl),
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  assert_int_equal(zt_conn_verify_error(&p.srv), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  /* the alert the server sent is not one it received */
  assert_int_equal(p.srv.peer_alert, -1);
  tu_assert_contains(zt_conn_error(&p.srv, buf, sizeof(buf)),
                     "certificate verification failed");
  /* TLS 1.3: the client finishes first and learns on its first read */
  assert_int_equal(p.cli_hs, ZT_IO_OK);
  assert_int_equal(p.cli.peer_alert, -1);
  assert_int_equal(read_until_event(&p.cli), ZT_IO_ERR);
  assert_int_equal(p.cli.peer_alert, SSL_AD_UNKNOWN_CA);
  tu_assert_contains(zt_conn_error(&p.cli, buf, sizeof(buf)), "peer sent TLS alert");
  tu_assert_contains(buf, "unknown");
  pair_close(&p);
}

static void test_device_revoked(void **state) {
  struct pair p;
  pair_open(&p, server_ctx(1), client_ctx(pki.revoked_crt, pki.revoked_key, pki.server_ca),
            OUT_MAX);
  pair_handshake(&p);
  assert_int_equal(p.srv_hs, ZT_IO_ERR);
  assert_int_equal(SSL_get_verify_result(p.srv.ssl), X509_V_ERR_CERT_REVOKED);
  assert_int_equal(read_until_event(&p.cli), ZT_IO_ERR);
  assert_int_equal(p.cli.peer_alert, SSL_AD_CERTIFICATE_REVOKED);
  pair_close(&p);
  /* the same server still admits a device that is not revoked */
  pair_open(&p, server_ctx(1), client_ctx(pki.device_crt, pki.device_key, pki.server_ca),
            OUT_MAX);
  pair_handshake(&p);
  assert_int_equal(p.srv_hs, ZT_IO_OK);
  assert_int_equal(p.cli_hs, ZT_IO_OK);
  pair_close(&p);
}

static void test_client_without_certificate(void **state) {
  struct pair p;
  pair_open(&p, server_ctx(0), client_ctx(pki.device_crt, pki.device_key, pki.server_ca),
            OUT_MAX);
  SSL_certs_clear(p.cli.ssl);
  pair_handshake(&p);
  assert_int_equal(p.srv_hs, ZT_IO_ERR);
  assert_int_equal(read_until_event(&p.cli), ZT_IO_ERR);
  assert_int_equal(p.cli.peer_alert, SSL_AD_CERTIFICATE_REQUIRED);
  pair_close(&p);
}

static void test_server_name_mismatch(void **state) {
  struct pair p;
  char buf[256];
  pair_standard(&p, pki.device_crt, pki.device_key, "wrong.corp.example");
  assert_int_equal(p.cli_hs, ZT_IO_ERR);
  assert_int_equal(SSL_get_verify_result(p.cli.ssl), X509_V_ERR_HOSTNAME_MISMATCH);
  assert_int_equal(zt_conn_verify_error(&p.cli), X509_V_ERR_HOSTNAME_MISMATCH);
  assert_int_equal(p.cli.peer_alert, -1);
  tu_assert_contains(zt_conn_error(&p.cli, buf, sizeof(buf)), "certificate verification failed");
  assert_int_not_equal(p.srv_hs, ZT_IO_OK);
  pair_close(&p);
}

static void test_server_from_wrong_ca(void **state) {
  struct pair p;
  /* the client trusts the device CA instead of the server CA */
  pair_open(&p, server_ctx(0), client_ctx(pki.device_crt, pki.device_key, pki.device_ca),
            OUT_MAX);
  pair_handshake(&p);
  assert_int_equal(p.cli_hs, ZT_IO_ERR);
  assert_int_equal(SSL_get_verify_result(p.cli.ssl),
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  assert_int_not_equal(p.srv_hs, ZT_IO_OK);
  pair_close(&p);
}

static void test_alpn_mismatch(void **state) {
  struct pair p;
  static const uint8_t other[] = "\x07ztvpn/2";
  pair_open(&p, server_ctx(0), client_ctx(pki.device_crt, pki.device_key, pki.server_ca),
            OUT_MAX);
  assert_int_equal(SSL_set_alpn_protos(p.cli.ssl, other, sizeof(other) - 1), 0);
  pair_handshake(&p);
  assert_int_equal(p.srv_hs, ZT_IO_ERR);
  assert_int_equal(p.cli_hs, ZT_IO_ERR);
  assert_int_equal(p.cli.peer_alert, SSL_AD_NO_APPLICATION_PROTOCOL);
  pair_close(&p);
  /* A client that offers no ALPN at all completes the handshake, and
   * zt_tls_alpn_ok is what tells both ends to stop. */
  pair_open(&p, server_ctx(0), client_ctx(pki.device_crt, pki.device_key, pki.server_ca),
            OUT_MAX);
  assert_int_equal(SSL_set_alpn_protos(p.cli.ssl, NULL, 0), 0);
  pair_handshake(&p);
  if (p.srv_hs == ZT_IO_OK) {
    assert_int_equal(zt_tls_alpn_ok(p.srv.ssl), 0);
    assert_int_equal(zt_tls_alpn_ok(p.cli.ssl), 0);
  }
  pair_close(&p);
}

/* Garbage instead of a ClientHello: the handshake fails before any
 * certificate was looked at, which must not read as a verification failure. */
static void test_garbage_client(void **state) {
  struct pair p;
  char buf[256];
  pair_open(&p, server_ctx(0), client_ctx(pki.device_crt, pki.device_key, pki.server_ca),
            OUT_MAX);
  static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(write(p.cli.fd, junk, sizeof(junk) - 1), (ssize_t)(sizeof(junk) - 1));
  pair_handshake(&p);
  assert_int_equal(p.srv_hs, ZT_IO_ERR);
  assert_int_equal(zt_conn_verify_error(&p.srv), X509_V_OK);
  assert_int_equal(p.srv.peer_alert, -1);
  zt_conn_error(&p.srv, buf, sizeof(buf));
  assert_null(strstr(buf, "certificate"));
  pair_close(&p);
}

static void test_ctx_errors(void **state) {
  char err[512];
  char store_err[256];
  X509_STORE *store;
  /* key of another certificate */
  store = zt_trust_load(pki.device_ca, NULL, 0, store_err, sizeof(store_err));
  assert_non_null(store);
  err[0] = '\0';
  assert_null(zt_tls_server_ctx(pki.server_crt, pki.device_key, store, err, sizeof(err)));
  tu_assert_contains(err, "does not belong");
  /* key readable by others */
  store = zt_trust_load(pki.device_ca, NULL, 0, store_err, sizeof(store_err));
  err[0] = '\0';
  assert_null(zt_tls_server_ctx(pki.server_crt, pki.shared_key, store, err, sizeof(err)));
  tu_assert_contains(err, "readable by group or others");
  /* missing certificate */
  char missing[PATH_MAX];
  tu_path(&pki.dir, "absent.crt", missing);
  store = zt_trust_load(pki.device_ca, NULL, 0, store_err, sizeof(store_err));
  err[0] = '\0';
  assert_null(zt_tls_server_ctx(missing, pki.server_key, store, err, sizeof(err)));
  tu_assert_contains(err, "cannot open");
  /* client: missing server CA, key mismatch */
  err[0] = '\0';
  assert_null(zt_tls_client_ctx(pki.device_crt, pki.device_key, missing, err, sizeof(err)));
  tu_assert_contains(err, "cannot load the server CA");
  err[0] = '\0';
  assert_null(zt_tls_client_ctx(pki.device_crt, pki.rogue_key, pki.server_ca, err,
                                sizeof(err)));
  tu_assert_contains(err, "does not belong");
  assert_int_equal(ERR_peek_error(), 0);
}

/* ---- framed data through zt_conn ---------------------------------------- */

struct sent {
  uint8_t type;
  size_t len;
  uint8_t seed;
};

static void fill(uint8_t *b, size_t len, uint8_t seed) {
  for (size_t i = 0; i < len; i++) b[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

/* Queues |n| frames on |from|, then flushes and reads until |to| has taken
 * every frame and each matches. */
static void transfer(struct zt_conn *from, struct zt_conn *to, const struct sent *s,
                     size_t n) {
  static uint8_t body[ZT_MAX_DATA], want[ZT_MAX_DATA];
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    fill(body, s[i].len, s[i].seed);
    if (!zt_conn_queue(from, s[i].type, body, s[i].len))
      fail_msg("frame %zu (%zu bytes) not queued", i, s[i].len);
    total += ZT_FRAME_HEADER_LEN + s[i].len;
  }
  assert_int_equal(zt_conn_queued(from), total);
  uint64_t out_before = from->bytes_out, in_before = to->bytes_in;
  size_t got = 0;
  for (int round = 0; round < 10000 && got < n; round++) {
    enum zt_io fr = zt_conn_flush(from);
    assert_true(fr == ZT_IO_OK || fr == ZT_IO_WANT);
    enum zt_io rr = zt_conn_read(to);
    assert_true(rr == ZT_IO_OK || rr == ZT_IO_WANT);
    CBS in, fbody;
    uint8_t type;
    zt_conn_pending(to, &in);
    enum zt_frame_result r;
    while ((r = zt_frame_next(&in, &type, &fbody)) == ZT_FRAME_OK) {
      assert_true(got < n);
      assert_int_equal(type, s[got].type);
      assert_int_equal(CBS_len(&fbody), s[got].len);
      fill(want, s[got].len, s[got].seed);
      if (s[got].len) assert_memory_equal(CBS_data(&fbody), want, s[got].len);
      got++;
    }
    assert_int_equal(r, ZT_FRAME_NEED_MORE);
    zt_conn_consumed(to, &in);
  }
  assert_int_equal(got, n);
  assert_int_equal(zt_conn_queued(from), 0);
  assert_int_equal(to->in_len, 0);
  assert_int_equal(from->bytes_out - out_before, total);
  assert_int_equal(to->bytes_in - in_before, total);
}

static void test_frames_both_ways(void **state) {
  struct pair p;
  pair_standard(&p, pki.device_crt, pki.device_key, SERVER_NAME);
  assert_int_equal(p.cli_hs, ZT_IO_OK);
  assert_int_equal(p.srv_hs, ZT_IO_OK);
  static const struct sent up[] = {
      {ZT_MSG_USER_PROOF, 700, 1}, {ZT_MSG_KEEPALIVE, 0, 0}, {ZT_MSG_DATA, 20, 2},
      {ZT_MSG_DATA, 1400, 3},      {ZT_MSG_DATA, ZT_MAX_DATA, 4}, {ZT_MSG_DATA, 16381, 5},
      {ZT_MSG_DATA, 16382, 6},     {ZT_MSG_CLOSE, 30, 7},
  };
  transfer(&p.cli, &p.srv, up, sizeof(up) / sizeof(up[0]));
  static const struct sent down[] = {
      {ZT_MSG_ADMIT, 200, 8}, {ZT_MSG_DATA, ZT_MAX_DATA, 9}, {ZT_MSG_DATA, ZT_MAX_DATA, 10},
      {ZT_MSG_KEEPALIVE, 0, 0},
  };
  transfer(&p.srv, &p.cli, down, sizeof(down) / sizeof(down[0]));
  /* many small frames in a row */
  enum { MANY = 1000 }; /* about 0.5 MB: all of it fits in OUT_MAX at once */
  static struct sent many[MANY];
  for (size_t i = 0; i < MANY; i++)
    many[i] = (struct sent){ZT_MSG_DATA, 20 + i % 1400, (uint8_t)i};
  transfer(&p.cli, &p.srv, many, MANY);
  pair_close(&p);
}

static void test_queue_limits(void **state) {
  struct pair p;
  static uint8_t body[ZT_MAX_DATA + 1];
  pair_open(&p, server_ctx(0), client_ctx(pki.device_crt, pki.device_key, pki.server_ca),
            1000);
  pair_handshake(&p);
  assert_int_equal(p.cli_hs, ZT_IO_OK);
  assert_int_equal(zt_conn_queue(&p.cli, ZT_MSG_DATA, body, 900), 1);
  assert_int_equal(zt_conn_queued(&p.cli), 903);
  /* 903 + 3 + 95 > 1000 */
  assert_int_equal(zt_conn_queue(&p.cli, ZT_MSG_DATA, body, 95), 0);
  assert_int_equal(zt_conn_queue(&p.cli, ZT_MSG_DATA, body, 94), 1);
  assert_int_equal(zt_conn_queued(&p.cli), 1000);
  assert_int_equal(zt_conn_queue(&p.cli, ZT_MSG_KEEPALIVE, NULL, 0), 0);
  /* after a flush there is room again */
  assert_int_equal(zt_conn_flush(&p.cli), ZT_IO_OK);
  assert_int_equal(zt_conn_queued(&p.cli), 0);
  assert_int_equal(zt_conn_queue(&p.cli, ZT_MSG_DATA, body, 997), 1);
  /* invalid frames are refused whatever the room */
  assert_int_equal(zt_conn_flush(&p.cli), ZT_IO_OK);
  assert_int_equal(zt_conn_queue(&p.cli, ZT_MSG_KEEPALIVE, body, 1), 0);
  assert_int_equal(zt_conn_queue(&p.cli, 0, body, 1), 0);
  assert_int_equal(zt_conn_queue(&p.cli, 10, body, 1), 0);
  assert_int_equal(zt_conn_queued(&p.cli), 0);
  pair_close(&p);
  pair_open(&p, server_ctx(0), client_ctx(pki.device_crt, pki.device_key, pki.server_ca),
            OUT_MAX);
  assert_int_equal(zt_conn_queue(&p.cli, ZT_MSG_DATA, body, ZT_MAX_DATA + 1), 0);
  assert_int_equal(zt_conn_queue(&p.cli, ZT_MSG_ADMIT, body, ZT_MAX_ADMIT + 1), 0);
  assert_int_equal(zt_conn_queued(&p.cli), 0);
  pair_close(&p);
}

/* With a full socket the sender gets WANT and keeps its queue; once the
 * reader drains, everything arrives in order. */
static void test_backpressure(void **state) {
  struct pair p;
  static uint8_t body[ZT_MAX_DATA];
  pair_standard(&p, pki.device_crt, pki.device_key, NULL);
  assert_int_equal(p.srv_hs, ZT_IO_OK);
  size_t queued = 0;
  int saw_want = 0;
  for (int i = 0; i < 200 && !saw_want; i++) {
    fill(body, ZT_MAX_DATA, (uint8_t)i);
    assert_int_equal(zt_conn_queue(&p.srv, ZT_MSG_DATA, body, ZT_MAX_DATA), 1);
    queued++;
    if (zt_conn_flush(&p.srv) == ZT_IO_WANT) saw_want = 1;
  }
  assert_true(saw_want);
  assert_true(zt_conn_queued(&p.srv) > 0);
  /* More frames after the blocked write: the queue grows and moves under
   * the pending TLS write, which must still complete. */
  for (int i = 0; i < 6; i++) {
    fill(body, ZT_MAX_DATA, (uint8_t)queued);
    assert_int_equal(zt_conn_queue(&p.srv, ZT_MSG_DATA, body, ZT_MAX_DATA), 1);
    queued++;
  }
  size_t got = 0;
  for (int round = 0; round < 100000 && got < queued; round++) {
    zt_conn_flush(&p.srv);
    enum zt_io r = zt_conn_read(&p.cli);
    assert_true(r == ZT_IO_OK || r == ZT_IO_WANT);
    CBS in, fb;
    uint8_t type;
    zt_conn_pending(&p.cli, &in);
    while (zt_frame_next(&in, &type, &fb) == ZT_FRAME_OK) {
      static uint8_t want[ZT_MAX_DATA];
      fill(want, ZT_MAX_DATA, (uint8_t)got);
      assert_int_equal(CBS_len(&fb), ZT_MAX_DATA);
      assert_memory_equal(CBS_data(&fb), want, ZT_MAX_DATA);
      got++;
    }
    zt_conn_consumed(&p.cli, &in);
  }
  assert_int_equal(got, queued);
  pair_close(&p);
}

static void test_orderly_close(void **state) {
  struct pair p;
  pair_standard(&p, pki.device_crt, pki.device_key, NULL);
  assert_int_equal(p.srv_hs, ZT_IO_OK);
  /* let the server see the client's post-handshake bytes first */
  assert_int_equal(zt_conn_read(&p.srv), ZT_IO_WANT);
  zt_conn_shutdown(&p.cli);
  assert_int_equal(read_until_event(&p.srv), ZT_IO_EOF);
  assert_int_equal(p.srv.peer_alert, -1); /* close_notify is no failure */
  pair_close(&p);
  /* a TCP-style close without close_notify also reads as EOF */
  pair_standard(&p, pki.device_crt, pki.device_key, NULL);
  assert_int_equal(p.srv_hs, ZT_IO_OK);
  zt_conn_read(&p.srv);
  close(p.cli.fd);
  p.cli.fd = -1;
  assert_int_equal(read_until_event(&p.srv), ZT_IO_EOF);
  pair_close(&p);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mutual_auth),
      cmocka_unit_test(test_exporter_differs_per_session),
      cmocka_unit_test(test_ed25519_device),
      cmocka_unit_test(test_device_from_wrong_ca),
      cmocka_unit_test(test_device_revoked),
      cmocka_unit_test(test_client_without_certificate),
      cmocka_unit_test(test_server_name_mismatch),
      cmocka_unit_test(test_server_from_wrong_ca),
      cmocka_unit_test(test_alpn_mismatch),
      cmocka_unit_test(test_garbage_client),
      cmocka_unit_test(test_ctx_errors),
      cmocka_unit_test(test_frames_both_ways),
      cmocka_unit_test(test_queue_limits),
      cmocka_unit_test(test_backpressure),
      cmocka_unit_test(test_orderly_close),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
