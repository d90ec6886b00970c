/* The TUN device and its network configuration (addresses, MTU, routes).
 * Every TUN and netlink operation of ztvpn goes through this interface, so
 * that a privileged helper process can own it later without a rewrite. */
#ifndef ZTVPN_TUN_H
#define ZTVPN_TUN_H

#include <net/if.h>
#include <stddef.h>

#include "addr.h"
#include "proto.h"

struct nl_sock;
struct rtnl_route;

/* TUN_MAX_SAVED_ROUTES bounds the laptop's own routes that routes through
 * the device can have replaced at one time: at most one per route added,
 * and a route update (client/tunnel.c) adds the new set of at most
 * ZT_MAX_ROUTES before it removes the old one. */
#define TUN_MAX_SAVED_ROUTES (2 * ZT_MAX_ROUTES)

/* TUN_MAX_QUEUES bounds the queues of a multi-queue device (one per data
 * plane worker). */
#define TUN_MAX_QUEUES 16

struct tun_dev {
  int fd;                 /* non-blocking; one IP packet per read/write */
  /* Every queue's fd, queues[0] == fd; all non-blocking. nqueues is 1 after
   * tun_open. With |vnet| each read/write carries a virtio_net_hdr
   * (ZT_VNET_HDR_LEN bytes, tun/offload.h) in front of the packet, and the
   * kernel may hand over TCP super-packets (and UDP ones when |uso|). */
  int queues[TUN_MAX_QUEUES];
  unsigned nqueues;
  int vnet;
  int uso;                /* the kernel took TUN_F_USO4|TUN_F_USO6 */
  char name[IFNAMSIZ];    /* the name the kernel gave the device */
  int ifindex;
  struct nl_sock *nl;     /* rtnetlink socket for configuration */
  /* The host route tun_pin_host_route added outside the device, or NULL.
   * Unlike the device's own routes it does not go away with the device,
   * so tun_close deletes it. */
  struct rtnl_route *pinned;
  /* The laptop's own routes that tun_add_route replaced, |nsaved| of them,
   * each a copy to add back: tun_del_route puts one back when it deletes
   * the route that replaced it, and tun_close (tun_restore_routes) all
   * that are left, once the device and its routes are gone. */
  struct rtnl_route *saved[TUN_MAX_SAVED_ROUTES];
  size_t nsaved;
};

/* tun_open creates (or attaches to) the TUN device |name| with IFF_TUN |
 * IFF_NO_PI, sets the fd non-blocking and opens a netlink socket. On failure
 * it writes a one-line reason into |err| (|errlen| bytes) and returns 0. */
int tun_open(const char *name, struct tun_dev *dev, char *err, size_t errlen);

/* tun_open_queues is tun_open with |nqueues| (1..TUN_MAX_QUEUES) queues,
 * IFF_MULTI_QUEUE when more than one, and with |vnet| IFF_VNET_HDR, a
 * 10-byte vnet header and the offloads TUN_F_CSUM|TSO4|TSO6|TSO_ECN|USO4|
 * USO6; a kernel that refuses USO gets the rest and |dev->uso| = 0. Fails
 * (0, reason in |err|, nothing left open) when the kernel takes no offloads
 * at all. tun_open(name, ...) is tun_open_queues(name, 1, 0, ...). */
int tun_open_queues(const char *name, unsigned nqueues, int vnet,
                    struct tun_dev *dev, char *err, size_t errlen);

/* tun_close deletes the routes and addresses that went with the device by
 * closing it (the device is not persistent), puts back the laptop's own
 * routes that routes through it replaced (tun_restore_routes), deletes the
 * pinned host route (tun_unpin_host_route), and frees the netlink socket.
 * It closes every queue of a multi-queue device.
 * Safe on a zeroed or already closed |dev| (fd < 0). */
void tun_close(struct tun_dev *dev);

/* tun_set_mtu_up sets the MTU and brings the link up. Returns 1 or 0. */
int tun_set_mtu_up(struct tun_dev *dev, unsigned mtu, char *err, size_t errlen);

/* tun_add_address assigns |addr| (address and prefix length) to the device;
 * IPv6 addresses skip duplicate address detection. Returns 1 or 0. */
int tun_add_address(struct tun_dev *dev, const struct zt_prefix *addr,
                    char *err, size_t errlen);

/* tun_add_route routes |dst| through the device (table main, scope link,
 * protocol static, the kernel's default metric), replacing a route to the
 * same prefix with the same metric: traffic for |dst| must not leave by the
 * laptop's own network while the tunnel is up. When the replaced route is
 * the laptop's own (it does not go through the device), a copy of it is
 * kept in |dev->saved| to be put back by tun_del_route or tun_close; a
 * repeated add replaces only our own route and saves nothing. Returns 1, or
 * 0 with a reason in |err| (then nothing was replaced or saved). */
int tun_add_route(struct tun_dev *dev, const struct zt_prefix *dst,
                  char *err, size_t errlen);

/* tun_del_route removes a route added by tun_add_route and puts back the
 * laptop's own route it replaced, if any. A route already gone counts as
 * removed for that. Returns 1, or 0 with a reason in |err| when the route
 * could not be deleted (a route already gone included). Failing to put the
 * laptop's route back is logged, not an error. */
int tun_del_route(struct tun_dev *dev, const struct zt_prefix *dst,
                  char *err, size_t errlen);

/* tun_restore_routes adds back every route in |dev->saved| and empties it;
 * a route the kernel refuses (its interface is gone, a route to the same
 * prefix is back already) is logged and forgotten. tun_close calls it once
 * the routes through the device are gone. */
void tun_restore_routes(struct tun_dev *dev);

/* tun_pin_host_route keeps |dst| (the VPN server) reachable outside the
 * device once routes through the device would cover it: it asks the kernel
 * how it reaches |dst| now (RTM_GETROUTE, as `ip route get` does) and adds
 * a host route (/32 or /128; table main, protocol static) with the same
 * gateway and output interface, or scope link without a gateway when |dst|
 * is on-link. It replaces an identical host route left behind, so the pin
 * is always |dev|'s: it is recorded in |dev->pinned| (replacing and
 * deleting an earlier pin for another address) and deleted by tun_close.
 * A local address needs no pin: it returns 1 and pins nothing. Returns 0
 * with a reason in |err| when there is no route to |dst|, when the route
 * already goes through |dev| itself or is not unicast, or when the kernel
 * refuses the route. Call it before adding the routes that cover |dst|. */
int tun_pin_host_route(struct tun_dev *dev, const struct zt_ip *dst,
                       char *err, size_t errlen);

/* tun_unpin_host_route deletes the route pinned by tun_pin_host_route, if
 * any, and clears |dev->pinned|. A pin the kernel already removed (its
 * interface went down) is simply forgotten. */
void tun_unpin_host_route(struct tun_dev *dev);

#endif
