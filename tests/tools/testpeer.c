/* ztvpn-testpeer: a misbehaving client for the integration tests. It uses
 * the real client credentials and protocol code, and then does one thing
 * wrong, so the tests can check that the concentrator refuses exactly that.
 *
 *   ztvpn-testpeer -c client.conf MODE
 *   no-user-cert  USER_PROOF with no certificate
 *   replay-proof  USER_PROOF signed over another session's exporter value
 *   garbage       4 KiB of random bytes instead of TLS
 *   http          a plain HTTP request
 *   stall         TCP connect, then silence
 *   oversized     after TLS, a frame header announcing a too-large message
 *
 * Exit: 1 when the server rejected us (its reason printed as "rejected by
 * server: ..."), 0 when the server closed the connection in the modes that
 * expect that, 3 on anything else. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "config.h"
#include "conn.h"
#include "credentials.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "tls.h"
#include "userproof.h"

static int tcp_connect(const struct client_config *cfg, int timeout_s) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
  struct addrinfo *ai;
  char port[8];
  snprintf(port, sizeof(port), "%u", cfg->server_port);
  if (getaddrinfo(cfg->server_host, port, &hints, &ai) != 0) return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = {.tv_sec = timeout_s};
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  return fd;
}

/* Waits for the server to close the raw connection: 0 if it did. */
static int await_close(int fd) {
  char buf[4096];
  for (int i = 0; i < 1000; i++) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return 0;
    if (n < 0) return 3; /* receive timeout: still open */
  }
  return 3;
}

static int tls_connect(const struct client_config *cfg,
                       const struct client_creds *creds, struct zt_conn *c) {
  int fd = tcp_connect(cfg, 15);
  if (fd < 0 || !zt_conn_init(c, fd, creds->tls, 0, 1 << 20) ||
      !zt_tls_client_expect_name(c->ssl, cfg->server_name) ||
      zt_conn_handshake(c) != ZT_IO_OK) {
    fprintf(stderr, "testpeer: TLS connection failed\n");
    return 0;
  }
  return 1;
}

/* Reads the server's answer: REJECT -> 1, closed -> 0, else 3. */
static int await_verdict(struct zt_conn *c) {
  for (int i = 0; i < 100; i++) {
    enum zt_io io = zt_conn_read(c);
    CBS in, body;
    uint8_t type;
    zt_conn_pending(c, &in);
    if (zt_frame_next(&in, &type, &body) == ZT_FRAME_OK) {
      struct zt_reason_msg r;
      if ((type == ZT_MSG_REJECT || type == ZT_MSG_CLOSE) && zt_reason_parse(body, &r)) {
        printf("rejected by server: %s\n", r.text);
        return 1;
      }
      printf("unexpected message type %u\n", type);
      return 3;
    }
    if (io == ZT_IO_EOF || io == ZT_IO_ERR) return 0;
    if (io == ZT_IO_WANT) return 3; /* receive timeout */
  }
  return 3;
}

static int send_proof(struct zt_conn *c, const struct client_creds *creds,
                      const uint8_t exporter[ZT_EXPORTER_LEN], int with_cert) {
  uint8_t body[ZT_MAX_USER_PROOF], sig[ZT_MAX_SIG_LEN];
  size_t len, sig_len;
  uint16_t scheme;
  CBB cbb;
  int ok = CBB_init_fixed(&cbb, body, sizeof(body));
  if (with_cert) {
    ok = ok && client_proof_build(creds, exporter, &cbb);
  } else {
    ok = ok && zt_proof_sign(creds->user_key, exporter, &scheme, sig, &sig_len) &&
         zt_user_proof_build(&cbb, NULL, NULL, 0, scheme, sig, sig_len);
  }
  return ok && CBB_finish(&cbb, NULL, &len) &&
         zt_conn_queue(c, ZT_MSG_USER_PROOF, body, len) && zt_conn_flush(c) == ZT_IO_OK;
}

int main(int argc, char **argv) {
  static struct client_config cfg;
  struct client_creds creds;
  char err[1024];
  if (argc != 4 || strcmp(argv[1], "-c") != 0) {
    fprintf(stderr, "usage: ztvpn-testpeer -c client.conf MODE\n");
    return 2;
  }
  log_init("ztvpn-testpeer", LOG_LVL_INFO);
  if (!client_config_load(argv[2], &cfg, err, sizeof(err)) ||
      !client_creds_load(&cfg, &creds, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  const char *mode = argv[3];
  struct zt_conn a, b;
  uint8_t exporter[ZT_EXPORTER_LEN];
  int rc = 3;
  if (strcmp(mode, "garbage") == 0 || strcmp(mode, "http") == 0 ||
      strcmp(mode, "stall") == 0) {
    int fd = tcp_connect(&cfg, strcmp(mode, "stall") == 0 ? 30 : 15);
    if (fd < 0) return 3;
    if (strcmp(mode, "garbage") == 0) {
      uint8_t junk[4096];
      RAND_bytes(junk, sizeof(junk));
      junk[0] = 0x16; /* looks like a TLS handshake record, then is not */
      send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
    } else if (strcmp(mode, "http") == 0) {
      static const char req[] = "GET / HTTP/1.1\r\nHost: gw.corp.example\r\n\r\n";
      send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
    }
    rc = await_close(fd);
    close(fd);
  } else if (strcmp(mode, "no-user-cert") == 0) {
    if (tls_connect(&cfg, &creds, &a) && zt_proof_exporter(a.ssl, exporter) &&
        send_proof(&a, &creds, exporter, 0))
      rc = await_verdict(&a);
    zt_conn_free(&a);
  } else if (strcmp(mode, "replay-proof") == 0) {
    /* Sign over session a's exporter, present the proof in session b. */
    if (tls_connect(&cfg, &creds, &a) && zt_proof_exporter(a.ssl, exporter) &&
        tls_connect(&cfg, &creds, &b) && send_proof(&b, &creds, exporter, 1))
      rc = await_verdict(&b);
    zt_conn_free(&a);
    zt_conn_free(&b);
  } else if (strcmp(mode, "oversized") == 0) {
    static const uint8_t header[] = {ZT_MSG_USER_PROOF, 0xff, 0xff};
    if (tls_connect(&cfg, &creds, &a)) {
      SSL_write(a.ssl, header, sizeof(header));
      rc = await_verdict(&a);
      if (rc == 1) rc = 0; /* refused and closed: what this mode expects */
    }
    zt_conn_free(&a);
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    rc = 2;
  }
  client_creds_free(&creds);
  return rc;
}
