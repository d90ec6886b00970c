#include "tunnel.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

void tunnel_init(struct client_tunnel *t) {
  memset(t, 0, sizeof(*t));
  t->dev.fd = -1;
}

/* Same device configuration, ignoring what may change per session. */
static int same_setup(const struct zt_admit *a, const struct zt_admit *b) {
  return memcmp(&a->addr4, &b->addr4, sizeof(a->addr4)) == 0 &&
         a->has_addr6 == b->has_addr6 &&
         (!a->has_addr6 || memcmp(&a->addr6, &b->addr6, sizeof(a->addr6)) == 0) &&
         a->mtu == b->mtu && a->nroutes == b->nroutes &&
         memcmp(a->routes, b->routes, a->nroutes * sizeof(a->routes[0])) == 0;
}

/* The pin is made for one server address: another one needs a new pin. */
static int same_server(const struct client_tunnel *t, const struct zt_ip *server) {
  if (server == NULL) return !t->has_server;
  return t->has_server && t->server.family == server->family &&
         memcmp(t->server.addr, server->addr, zt_ip_len(server->family)) == 0;
}

static int needs_pin(const struct zt_prefix *routes, size_t n, const struct zt_ip *server) {
  for (size_t i = 0; server != NULL && i < n; i++)
    if (zt_prefix_contains(&routes[i], server)) return 1;
  return 0;
}

/* add_route routes |p| through the device. A default route becomes its two
 * halves, as OpenVPN's def1 does: adding a second /0 would replace the
 * laptop's own default route (same prefix and metric), and it would not
 * come back when the tunnel closes; the more specific halves win without
 * touching it. */
static int add_route(struct client_tunnel *t, const struct zt_prefix *p,
                     char *err, size_t errlen) {
  if (p->len != 0) return tun_add_route(&t->dev, p, err, errlen);
  struct zt_prefix half = {.family = p->family, .len = 1};
  if (!tun_add_route(&t->dev, &half, err, errlen)) return 0;
  half.addr[0] = 0x80;
  return tun_add_route(&t->dev, &half, err, errlen);
}

/* del_route undoes add_route. */
static int del_route(struct client_tunnel *t, const struct zt_prefix *p,
                     char *err, size_t errlen) {
  if (p->len != 0) return tun_del_route(&t->dev, p, err, errlen);
  struct zt_prefix half = {.family = p->family, .len = 1};
  int ok = tun_del_route(&t->dev, &half, err, errlen);
  half.addr[0] = 0x80;
  return tun_del_route(&t->dev, &half, err, errlen) && ok;
}

static int has_route(const struct zt_prefix *routes, size_t n, const struct zt_prefix *p) {
  for (size_t i = 0; i < n; i++)
    if (routes[i].family == p->family && routes[i].len == p->len &&
        memcmp(routes[i].addr, p->addr, zt_ip_len(p->family)) == 0)
      return 1;
  return 0;
}

int tunnel_update_routes(struct client_tunnel *t, const struct zt_routes *r,
                         size_t *added, size_t *removed, char *err, size_t errlen) {
  struct zt_admit *a = &t->applied;
  *added = *removed = 0;
  if (t->dev.fd < 0) {
    snprintf(err, errlen, "no tunnel device to route through");
    return 0;
  }
  if (t->dev.pinned == NULL &&
      needs_pin(r->routes, r->n, t->has_server ? &t->server : NULL) &&
      !tun_pin_host_route(&t->dev, &t->server, err, errlen))
    return 0;
  /* New routes first, so traffic for a prefix that moves to a wider or
   * narrower route is never without one. */
  for (size_t i = 0; i < r->n; i++) {
    if (has_route(a->routes, a->nroutes, &r->routes[i])) continue;
    if (!add_route(t, &r->routes[i], err, errlen)) return 0;
    (*added)++;
  }
  for (size_t i = 0; i < a->nroutes; i++) {
    if (has_route(r->routes, r->n, &a->routes[i])) continue;
    /* Already gone is as good as removed: the kernel may have dropped it. */
    char ignored[256];
    del_route(t, &a->routes[i], ignored, sizeof(ignored));
    (*removed)++;
  }
  a->nroutes = r->n;
  memcpy(a->routes, r->routes, r->n * sizeof(r->routes[0]));
  return 1;
}

int tunnel_apply(struct client_tunnel *t, const char *ifname,
                 const struct zt_admit *a, const struct zt_ip *server,
                 char *err, size_t errlen) {
  char s[ZT_ADDR_STRLEN];
  if (t->dev.fd >= 0 && same_setup(&t->applied, a) && same_server(t, server))
    return 1;
  tunnel_close(t);
  /* Offloads: the kernel hands over TCP/UDP super-packets and takes merged
   * ones back, so the data plane costs no system call per packet. */
  if (!tun_open_queues(ifname, 1, 1, &t->dev, err, errlen) ||
      !tun_set_mtu_up(&t->dev, a->mtu, err, errlen) ||
      !tun_add_address(&t->dev, &a->addr4, err, errlen) ||
      (a->has_addr6 && !tun_add_address(&t->dev, &a->addr6, err, errlen)))
    goto fail;
  /* Before the routes: the lookup must still see the way to the server
   * that the connection uses now. */
  if (needs_pin(a->routes, a->nroutes, server)) {
    if (!tun_pin_host_route(&t->dev, server, err, errlen)) goto fail;
    if (t->dev.pinned != NULL)
      log_info("host route to the server %s pinned outside %s",
               zt_ip_format(server, s), t->dev.name);
  }
  for (size_t i = 0; i < a->nroutes; i++)
    if (!add_route(t, &a->routes[i], err, errlen)) goto fail;
  memcpy(&t->applied, a, sizeof(*a));
  t->has_server = server != NULL;
  if (server != NULL) t->server = *server;
  return 1;
fail:
  tunnel_close(t);
  return 0;
}

void tunnel_close(struct client_tunnel *t) {
  tun_close(&t->dev);
  t->dev.fd = -1;
  t->has_server = 0;
}
