#include "forward.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "packet.h"
#include "proto.h"
#include "server.h"

/* Packets taken from the TUN per wakeup: enough to coalesce many frames into
 * each TLS record, few enough to keep the loop fair to the sockets. */
#define TUN_BATCH 64

void forward_from_tun(struct server *srv) {
  for (int i = 0; i < TUN_BATCH; i++) {
    ssize_t n = read(srv->tun.fd, srv->pkt, ZT_MAX_DATA);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) log_warn("read from TUN: %s", strerror(errno));
      return;
    }
    struct zt_pkt info;
    if (!zt_pkt_parse(srv->pkt, (size_t)n, &info)) {
      srv->counters.drops[DROP_MALFORMED]++;
      continue;
    }
    struct session *s = server_session_for_addr(srv, &info.dst);
    if (!s) {
      srv->counters.drops[DROP_NO_SESSION]++;
      continue;
    }
    if (!zt_conn_queue(&s->conn, ZT_MSG_DATA, srv->pkt, (size_t)n)) {
      session_count_drop(s, DROP_QUEUE_FULL);
      continue;
    }
    s->pkts_out++;
    server_mark_dirty(srv, s);
  }
}

static int is_own_source(const struct session *s, const struct zt_ip *src) {
  if (src->family == s->addr4.family)
    return memcmp(src->addr, s->addr4.addr, 4) == 0;
  return s->has_addr6 && memcmp(src->addr, s->addr6.addr, 16) == 0;
}

void forward_to_tun(struct session *s, const uint8_t *pkt, size_t len) {
  struct zt_pkt info;
  if (!zt_pkt_parse(pkt, len, &info)) {
    session_count_drop(s, DROP_MALFORMED);
    return;
  }
  if (!is_own_source(s, &info.src)) {
    session_count_drop(s, DROP_SPOOFED_SOURCE);
    return;
  }
  if (write(s->srv->tun.fd, pkt, len) != (ssize_t)len) {
    session_count_drop(s, DROP_TUN_WRITE);
    return;
  }
  s->pkts_in++;
}
