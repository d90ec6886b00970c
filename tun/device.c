/* Opening and closing the TUN device itself. Addresses, MTU and routes are
 * in netconf.c. */
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#define TUN_CLONE_DEV "/dev/net/tun"

/* tun_attach opens the clone device and binds it to |name| (or to a name the
 * kernel picks when |name| is empty). On success |*out_fd| holds the fd and
 * |ifr->ifr_name| the kernel's name. */
static int tun_attach(const char *name, struct ifreq *ifr, int *out_fd,
                      char *err, size_t errlen) {
  int fd = open(TUN_CLONE_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "open %s: %s", TUN_CLONE_DEV, strerror(errno));
    return 0;
  }
  memset(ifr, 0, sizeof(*ifr));
  /* No packet information header: every read and write is exactly one IP
   * packet, and the version nibble tells IPv4 from IPv6. */
  ifr->ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr->ifr_name, name, strlen(name)); /* length checked by caller */
  if (ioctl(fd, TUNSETIFF, ifr) < 0) {
    snprintf(err, errlen, "create TUN device %s: %s",
             name[0] != '\0' ? name : "(any)", strerror(errno));
    close(fd);
    return 0;
  }
  *out_fd = fd;
  return 1;
}

static int tun_netlink_open(struct nl_sock **out, const char *ifname,
                            char *err, size_t errlen) {
  struct nl_sock *sk = nl_socket_alloc();
  if (sk == NULL) {
    snprintf(err, errlen, "netlink socket for %s: out of memory", ifname);
    return 0;
  }
  int rc = nl_connect(sk, NETLINK_ROUTE);
  if (rc < 0) {
    snprintf(err, errlen, "netlink socket for %s: %s", ifname,
             nl_geterror(rc));
    nl_socket_free(sk);
    return 0;
  }
  *out = sk;
  return 1;
}

int tun_open(const char *name, struct tun_dev *dev, char *err, size_t errlen) {
  dev->fd = -1;
  dev->name[0] = '\0';
  dev->ifindex = 0;
  dev->nl = NULL;
  dev->pinned = NULL;
  dev->nsaved = 0;

  if (name == NULL) name = "";
  if (strlen(name) >= IFNAMSIZ) {
    snprintf(err, errlen, "TUN device name \"%s\" is longer than %d bytes",
             name, IFNAMSIZ - 1);
    return 0;
  }

  struct ifreq ifr;
  int fd;
  if (!tun_attach(name, &ifr, &fd, err, errlen)) return 0;

  char kname[IFNAMSIZ];
  memcpy(kname, ifr.ifr_name, IFNAMSIZ);
  kname[IFNAMSIZ - 1] = '\0';
  unsigned ifindex = if_nametoindex(kname);
  if (ifindex == 0) {
    snprintf(err, errlen, "TUN device %s: no interface index: %s", kname,
             strerror(errno));
    close(fd);
    return 0;
  }

  struct nl_sock *nl;
  if (!tun_netlink_open(&nl, kname, err, errlen)) {
    close(fd);
    return 0;
  }

  dev->fd = fd;
  memcpy(dev->name, kname, IFNAMSIZ);
  dev->ifindex = (int)ifindex;
  dev->nl = nl;
  return 1;
}

void tun_close(struct tun_dev *dev) {
  if (dev == NULL) return;
  /* A zeroed struct has fd 0 (stdin) and no netlink socket. tun_open sets
   * both or neither, so fd 0 is ours only together with a socket. Callers
   * that keep a tun_dev around before opening it initialise fd to -1. */
  int owns_fd = dev->fd > 0 || (dev->fd == 0 && dev->nl != NULL);
  /* Closing the last fd of a non-persistent TUN device unregisters it, and
   * the kernel drops its addresses and routes with it. */
  if (owns_fd) close(dev->fd);
  dev->fd = -1;
  dev->ifindex = 0;
  /* The laptop's own routes that routes into the device replaced can only
   * come back now that those are gone. */
  tun_restore_routes(dev);
  /* Only after the routes into the device are gone: until then the pin is
   * what keeps the connection to the server out of the tunnel. And after
   * the restore: should a pushed route have replaced the pin, the copy put
   * back is the pin again and goes with it. */
  tun_unpin_host_route(dev);
  if (dev->nl != NULL) nl_socket_free(dev->nl);
  dev->nl = NULL;
}
