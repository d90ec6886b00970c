/* The client's TUN device, configured from the server's ADMIT. */
#ifndef ZTVPN_CLIENT_TUNNEL_H
#define ZTVPN_CLIENT_TUNNEL_H

#include <stddef.h>

#include "msg.h"
#include "tun.h"

struct client_tunnel {
  struct tun_dev dev;  /* dev.fd < 0 while there is no device */
  struct zt_admit applied;
};

void tunnel_init(struct client_tunnel *t);

/* tunnel_apply makes the device match |a|: created on first use, kept as it
 * is when a reconnection brings the same parameters (so traffic for the
 * routes never leaves through another interface), rebuilt otherwise.
 * Returns 1, or 0 with a reason in |err|. */
int tunnel_apply(struct client_tunnel *t, const char *ifname,
                 const struct zt_admit *a, char *err, size_t errlen);

/* tunnel_close removes the device with its addresses and routes. */
void tunnel_close(struct client_tunnel *t);

#endif
