#include "refusals.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

#define REFUSAL_LOG_MS 1000

/* The limit in the administrator's words: the setting and its value. */
static void limit_text(const struct server *srv, enum refuse_reason why, char *buf,
                       size_t len) {
  const struct server_config *cfg = srv->cfg;
  switch (why) {
    case REFUSE_HANDSHAKES:
      snprintf(buf, len, "max_handshakes (%u in progress)", cfg->max_handshakes);
      return;
    case REFUSE_SOURCE_HANDSHAKES:
      snprintf(buf, len, "max_handshakes_per_source (%u in progress)",
               cfg->max_handshakes_per_source);
      return;
    case REFUSE_SOURCE_RATE:
      snprintf(buf, len, "connect_rate_per_source (%u per second, burst %u)",
               cfg->connect_rate_per_source, 2 * cfg->connect_rate_per_source);
      return;
    case REFUSE_MAX:
      break;
  }
  snprintf(buf, len, "%s", refuse_reason_name(why));
}

static void log_pending(struct server *srv, enum refuse_reason why) {
  struct refusal_log *l = &srv->refusals.by[why];
  char src[64], limit[96];
  src_key_format(&l->first, src, sizeof(src));
  limit_text(srv, why, limit, sizeof(limit));
  log_warn("refused %llu connection%s from %s%s in the last second: %s",
           (unsigned long long)l->pending, l->pending == 1 ? "" : "s", src,
           l->several ? " and other sources" : "", limit);
  l->pending = 0;
  l->several = 0;
  l->last_ms = srv->now_ms;
}

static void arm(struct server *srv) {
  uint64_t when = UINT64_MAX;
  for (int r = 0; r < REFUSE_MAX; r++) {
    const struct refusal_log *l = &srv->refusals.by[r];
    if (l->pending && l->last_ms + REFUSAL_LOG_MS < when) when = l->last_ms + REFUSAL_LOG_MS;
  }
  if (when == UINT64_MAX) zt_timer_cancel(&srv->timers, &srv->refusals.timer);
  else zt_timer_arm(&srv->timers, &srv->refusals.timer, when);
}

static void on_timer(void *arg) {
  struct server *srv = arg;
  for (int r = 0; r < REFUSE_MAX; r++) {
    struct refusal_log *l = &srv->refusals.by[r];
    if (l->pending && srv->now_ms >= l->last_ms + REFUSAL_LOG_MS)
      log_pending(srv, (enum refuse_reason)r);
  }
  arm(srv);
}

void refusals_init(struct server *srv) {
  zt_timer_init(&srv->refusals.timer, on_timer, srv);
}

void refuse(struct server *srv, int fd, enum refuse_reason why, const struct src_key *src) {
  struct linger rst = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
  close(fd);
  srv->counters.refused++;
  srv->counters.refused_by[why]++;
  struct refusal_log *l = &srv->refusals.by[why];
  if (l->pending == 0) l->first = *src;
  else if (memcmp(&l->first, src, sizeof(*src)) != 0) l->several = 1;
  l->pending++;
  if (l->last_ms == 0 || srv->now_ms >= l->last_ms + REFUSAL_LOG_MS) log_pending(srv, why);
  else arm(srv);
}
