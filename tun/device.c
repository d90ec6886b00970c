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

/* Debian 12's Linux 6.1 headers predate USO (kernel 6.2). */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#define TUN_VNET_HDR_SZ 10 /* struct virtio_net_hdr, = ZT_VNET_HDR_LEN */
#define TUN_OFFLOADS_TSO \
  (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

/* tun_attach opens the clone device and binds it to |name| (or to a name the
 * kernel picks when |name| is empty) with |flags| besides IFF_TUN |
 * IFF_NO_PI. On success |*out_fd| holds the fd and |ifr->ifr_name| the
 * kernel's name. */
static int tun_attach(const char *name, short flags, struct ifreq *ifr,
                      int *out_fd, char *err, size_t errlen) {
  int fd = open(TUN_CLONE_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "open %s: %s", TUN_CLONE_DEV, strerror(errno));
    return 0;
  }
  memset(ifr, 0, sizeof(*ifr));
  /* No packet information header: every read and write is exactly one IP
   * packet, and the version nibble tells IPv4 from IPv6. */
  ifr->ifr_flags = (short)(IFF_TUN | IFF_NO_PI | flags);
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

/* tun_offload sets the vnet header size and the offloads on the device
 * (both are per device, not per queue). USO is asked for first and dropped
 * when the kernel refuses it; |*uso| says which one it took. */
static int tun_offload(int fd, const char *ifname, int *uso, char *err,
                       size_t errlen) {
  int sz = TUN_VNET_HDR_SZ;
  if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
    snprintf(err, errlen, "TUN device %s: vnet header size %d: %s", ifname,
             sz, strerror(errno));
    return 0;
  }
  /* The kernel takes USO4 and USO6 only together, and only with CSUM. */
  unsigned long all = TUN_OFFLOADS_TSO | TUN_F_USO4 | TUN_F_USO6;
  if (ioctl(fd, TUNSETOFFLOAD, all) == 0) {
    *uso = 1;
    return 1;
  }
  if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_OFFLOADS_TSO) == 0) {
    *uso = 0;
    return 1;
  }
  snprintf(err, errlen,
           "TUN device %s: the kernel refuses checksum and TSO offloads: %s",
           ifname, strerror(errno));
  return 0;
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

static void tun_close_queues(struct tun_dev *dev) {
  for (unsigned i = 0; i < dev->nqueues && i < TUN_MAX_QUEUES; i++)
    close(dev->queues[i]);
  dev->nqueues = 0;
}

int tun_open(const char *name, struct tun_dev *dev, char *err, size_t errlen) {
  return tun_open_queues(name, 1, 0, dev, err, errlen);
}

int tun_open_queues(const char *name, unsigned nqueues, int vnet,
                    struct tun_dev *dev, char *err, size_t errlen) {
  dev->fd = -1;
  dev->name[0] = '\0';
  dev->ifindex = 0;
  dev->nl = NULL;
  dev->pinned = NULL;
  dev->nsaved = 0;
  dev->nqueues = 0;
  dev->vnet = 0;
  dev->uso = 0;
  for (unsigned i = 0; i < TUN_MAX_QUEUES; i++) dev->queues[i] = -1;

  if (name == NULL) name = "";
  if (strlen(name) >= IFNAMSIZ) {
    snprintf(err, errlen, "TUN device name \"%s\" is longer than %d bytes",
             name, IFNAMSIZ - 1);
    return 0;
  }
  if (nqueues < 1 || nqueues > TUN_MAX_QUEUES) {
    snprintf(err, errlen, "TUN device %s: %u queues (1..%d)",
             name[0] != '\0' ? name : "(any)", nqueues, TUN_MAX_QUEUES);
    return 0;
  }
  short flags = (short)((nqueues > 1 ? IFF_MULTI_QUEUE : 0) |
                        (vnet ? IFF_VNET_HDR : 0));

  struct ifreq ifr;
  int fd;
  if (!tun_attach(name, flags, &ifr, &fd, err, errlen)) return 0;
  dev->queues[0] = fd;
  dev->nqueues = 1;

  char kname[IFNAMSIZ];
  memcpy(kname, ifr.ifr_name, IFNAMSIZ);
  kname[IFNAMSIZ - 1] = '\0';
  /* Later queues attach by the name the kernel gave the first, with the
   * same flags (the kernel refuses a mismatch). */
  for (unsigned i = 1; i < nqueues; i++) {
    if (!tun_attach(kname, flags, &ifr, &dev->queues[i], err, errlen)) {
      tun_close_queues(dev);
      return 0;
    }
    dev->nqueues = i + 1;
  }
  if (vnet && !tun_offload(fd, kname, &dev->uso, err, errlen)) {
    tun_close_queues(dev);
    return 0;
  }

  unsigned ifindex = if_nametoindex(kname);
  if (ifindex == 0) {
    snprintf(err, errlen, "TUN device %s: no interface index: %s", kname,
             strerror(errno));
    tun_close_queues(dev);
    return 0;
  }

  struct nl_sock *nl;
  if (!tun_netlink_open(&nl, kname, err, errlen)) {
    tun_close_queues(dev);
    return 0;
  }

  dev->fd = fd;
  dev->vnet = vnet ? 1 : 0;
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
  if (owns_fd) {
    /* queues[] is only meaningful once tun_open_queues succeeded, which
     * the fd says: a caller may have set no more than fd and nl. */
    if (dev->nqueues >= 1 && dev->nqueues <= TUN_MAX_QUEUES &&
        dev->queues[0] == dev->fd)
      tun_close_queues(dev);
    else
      close(dev->fd);
  }
  dev->fd = -1;
  dev->nqueues = 0;
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
