#include "tunnel.h"

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

int tunnel_apply(struct client_tunnel *t, const char *ifname,
                 const struct zt_admit *a, char *err, size_t errlen) {
  if (t->dev.fd >= 0 && same_setup(&t->applied, a)) return 1;
  tunnel_close(t);
  if (!tun_open(ifname, &t->dev, err, errlen) ||
      !tun_set_mtu_up(&t->dev, a->mtu, err, errlen) ||
      !tun_add_address(&t->dev, &a->addr4, err, errlen) ||
      (a->has_addr6 && !tun_add_address(&t->dev, &a->addr6, err, errlen)))
    goto fail;
  for (size_t i = 0; i < a->nroutes; i++)
    if (!tun_add_route(&t->dev, &a->routes[i], err, errlen)) goto fail;
  memcpy(&t->applied, a, sizeof(*a));
  return 1;
fail:
  tunnel_close(t);
  return 0;
}

void tunnel_close(struct client_tunnel *t) {
  tun_close(&t->dev);
  t->dev.fd = -1;
}
