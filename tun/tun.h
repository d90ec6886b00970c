/* The TUN device and its network configuration (addresses, MTU, routes).
 * Every TUN and netlink operation of ztvpn goes through this interface, so
 * that a privileged helper process can own it later without a rewrite. */
#ifndef ZTVPN_TUN_H
#define ZTVPN_TUN_H

#include <net/if.h>
#include <stddef.h>

#include "addr.h"

struct nl_sock;

struct tun_dev {
  int fd;                 /* non-blocking; one IP packet per read/write */
  char name[IFNAMSIZ];    /* the name the kernel gave the device */
  int ifindex;
  struct nl_sock *nl;     /* rtnetlink socket for configuration */
};

/* tun_open creates (or attaches to) the TUN device |name| with IFF_TUN |
 * IFF_NO_PI, sets the fd non-blocking and opens a netlink socket. On failure
 * it writes a one-line reason into |err| (|errlen| bytes) and returns 0. */
int tun_open(const char *name, struct tun_dev *dev, char *err, size_t errlen);

/* tun_close deletes the routes and addresses that went with the device by
 * closing it (the device is not persistent) and frees the netlink socket.
 * Safe on a zeroed or already closed |dev| (fd < 0). */
void tun_close(struct tun_dev *dev);

/* tun_set_mtu_up sets the MTU and brings the link up. Returns 1 or 0. */
int tun_set_mtu_up(struct tun_dev *dev, unsigned mtu, char *err, size_t errlen);

/* tun_add_address assigns |addr| (address and prefix length) to the device;
 * IPv6 addresses skip duplicate address detection. Returns 1 or 0. */
int tun_add_address(struct tun_dev *dev, const struct zt_prefix *addr,
                    char *err, size_t errlen);

/* tun_add_route routes |dst| through the device (table main, scope link,
 * protocol static, replacing an existing identical route). Returns 1 or 0. */
int tun_add_route(struct tun_dev *dev, const struct zt_prefix *dst,
                  char *err, size_t errlen);

/* tun_del_route removes a route added by tun_add_route. Returns 1 or 0. */
int tun_del_route(struct tun_dev *dev, const struct zt_prefix *dst,
                  char *err, size_t errlen);

#endif
