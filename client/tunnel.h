/* The client's TUN device, configured from the server's ADMIT. */
#ifndef ZTVPN_CLIENT_TUNNEL_H
#define ZTVPN_CLIENT_TUNNEL_H

#include <stddef.h>

#include "msg.h"
#include "tun.h"

struct client_tunnel {
  struct tun_dev dev;  /* dev.fd < 0 while there is no device */
  struct zt_admit applied;
  struct zt_ip server; /* the server address the device was set up for */
  int has_server;
};

void tunnel_init(struct client_tunnel *t);

/* tunnel_apply makes the device match |a|: created on first use, kept as it
 * is when a reconnection brings the same parameters from the same |server|
 * (so traffic for the routes never leaves through another interface),
 * rebuilt otherwise. |server| is the address the client is connected to, or
 * NULL if unknown. When a pushed route contains it, a host route to it
 * through the current route is pinned first (tun_pin_host_route), so the
 * connection to the server never loops into the tunnel; the pin goes with
 * the device. A pushed default route (/0) is installed as its two halves
 * (/1), which override the laptop's own default route without replacing
 * it, so that it is still there when the tunnel closes. Returns 1, or 0
 * with a reason in |err| (and no device left). */
int tunnel_apply(struct client_tunnel *t, const char *ifname,
                 const struct zt_admit *a, const struct zt_ip *server,
                 char *err, size_t errlen);

/* tunnel_update_routes makes the device's routes those of |r| (a ROUTES
 * message from the server) without touching anything else: new routes are
 * added first (pinning the server when one now contains it), then those no
 * longer pushed are removed. |*added| and |*removed| count the changes.
 * Returns 1, or 0 with a reason in |err| when a route cannot be added (the
 * routes are then a mix: the caller reconnects, which rebuilds them). */
int tunnel_update_routes(struct client_tunnel *t, const struct zt_routes *r,
                         size_t *added, size_t *removed, char *err, size_t errlen);

/* tunnel_close removes the device with its addresses and routes, and the
 * host route pinned to the server. */
void tunnel_close(struct client_tunnel *t);

#endif
