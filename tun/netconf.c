/* Network configuration of the TUN device over rtnetlink: link state and
 * MTU, addresses, routes. Every function builds its libnl objects, sends one
 * request, and frees what it built on every path. */
#include "tun.h"

#include <linux/rtnetlink.h>
#include <stdio.h>

#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

/* prefix_to_nl converts |p| into a new libnl address (with prefix length),
 * or returns a negative libnl error code in |*out_rc|. The caller owns the
 * result and releases it with nl_addr_put. */
static struct nl_addr *prefix_to_nl(const struct zt_prefix *p, int *out_rc) {
  size_t len = zt_ip_len(p->family);
  if (len == 0 || p->len > len * 8) {
    *out_rc = -NLE_INVAL;
    return NULL;
  }
  struct nl_addr *a = nl_addr_build(p->family, p->addr, len);
  if (a == NULL) {
    *out_rc = -NLE_NOMEM;
    return NULL;
  }
  nl_addr_set_prefixlen(a, p->len);
  *out_rc = 0;
  return a;
}

static int link_set_mtu_up(struct nl_sock *sk, int ifindex, unsigned mtu) {
  struct rtnl_link *cur = NULL;
  int rc = rtnl_link_get_kernel(sk, ifindex, NULL, &cur);
  if (rc < 0) return rc;
  struct rtnl_link *change = rtnl_link_alloc();
  if (change == NULL) {
    rtnl_link_put(cur);
    return -NLE_NOMEM;
  }
  rtnl_link_set_mtu(change, mtu);
  rtnl_link_set_flags(change, IFF_UP);
  rc = rtnl_link_change(sk, cur, change, 0);
  rtnl_link_put(change);
  rtnl_link_put(cur);
  return rc;
}

int tun_set_mtu_up(struct tun_dev *dev, unsigned mtu, char *err,
                   size_t errlen) {
  int rc = link_set_mtu_up(dev->nl, dev->ifindex, mtu);
  if (rc < 0) {
    snprintf(err, errlen, "set MTU %u and link up on %s: %s", mtu, dev->name,
             nl_geterror(rc));
    return 0;
  }
  return 1;
}

static int addr_add(struct nl_sock *sk, int ifindex,
                    const struct zt_prefix *p) {
  int rc;
  struct nl_addr *local = prefix_to_nl(p, &rc);
  if (local == NULL) return rc;
  struct rtnl_addr *a = rtnl_addr_alloc();
  if (a == NULL) {
    nl_addr_put(local);
    return -NLE_NOMEM;
  }
  rtnl_addr_set_ifindex(a, ifindex);
  rc = rtnl_addr_set_local(a, local); /* takes its own reference */
  if (rc == 0) {
    rtnl_addr_set_prefixlen(a, p->len);
    /* No neighbour on a TUN link can hold our address. The kernel skips
     * DAD on IFF_NOARP links like TUN anyway; NODAD keeps the address
     * usable at once even if that ever changes. */
    if (p->family == AF_INET6) rtnl_addr_set_flags(a, IFA_F_NODAD);
    rc = rtnl_addr_add(sk, a, NLM_F_EXCL);
  }
  rtnl_addr_put(a);
  nl_addr_put(local);
  return rc;
}

int tun_add_address(struct tun_dev *dev, const struct zt_prefix *addr,
                    char *err, size_t errlen) {
  int rc = addr_add(dev->nl, dev->ifindex, addr);
  /* Reconfiguring after a reconnect assigns the same address again: that
   * is the state we want, not a failure. */
  if (rc < 0 && rc != -NLE_EXIST) {
    char buf[ZT_ADDR_STRLEN];
    snprintf(err, errlen, "add address %s to %s: %s",
             zt_prefix_format(addr, buf), dev->name, nl_geterror(rc));
    return 0;
  }
  return 1;
}

/* route_new builds the route object shared by add and delete: |dst| in the
 * main table, static, scope link, out of the device. */
static struct rtnl_route *route_new(int ifindex, const struct zt_prefix *dst,
                                    int *out_rc) {
  struct nl_addr *d = prefix_to_nl(dst, out_rc);
  if (d == NULL) return NULL;
  struct rtnl_route *r = rtnl_route_alloc();
  struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
  if (r == NULL || nh == NULL) {
    *out_rc = -NLE_NOMEM;
    goto fail;
  }
  rtnl_route_set_family(r, (uint8_t)dst->family);
  *out_rc = rtnl_route_set_dst(r, d); /* takes its own reference */
  if (*out_rc < 0) goto fail;
  rtnl_route_set_table(r, RT_TABLE_MAIN);
  rtnl_route_set_protocol(r, RTPROT_STATIC);
  rtnl_route_set_scope(r, RT_SCOPE_LINK);
  rtnl_route_set_type(r, RTN_UNICAST);
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_add_nexthop(r, nh); /* the route owns |nh| from here */
  nl_addr_put(d);
  return r;

fail:
  if (nh != NULL) rtnl_route_nh_free(nh);
  if (r != NULL) rtnl_route_put(r);
  nl_addr_put(d);
  return NULL;
}

static void route_error(const struct tun_dev *dev, const char *verb,
                        const struct zt_prefix *dst, int rc, char *err,
                        size_t errlen) {
  char buf[ZT_ADDR_STRLEN];
  snprintf(err, errlen, "%s route %s via %s: %s", verb,
           zt_prefix_format(dst, buf), dev->name, nl_geterror(rc));
}

int tun_add_route(struct tun_dev *dev, const struct zt_prefix *dst,
                  char *err, size_t errlen) {
  int rc;
  struct rtnl_route *r = route_new(dev->ifindex, dst, &rc);
  if (r != NULL) {
    /* rtnl_route_add adds NLM_F_CREATE; REPLACE makes a repeated add (a
     * reconnect pushing the same routes) succeed instead of EEXIST. */
    rc = rtnl_route_add(dev->nl, r, NLM_F_REPLACE);
    rtnl_route_put(r);
  }
  if (rc < 0) {
    route_error(dev, "add", dst, rc, err, errlen);
    return 0;
  }
  return 1;
}

int tun_del_route(struct tun_dev *dev, const struct zt_prefix *dst,
                  char *err, size_t errlen) {
  int rc;
  struct rtnl_route *r = route_new(dev->ifindex, dst, &rc);
  if (r != NULL) {
    rc = rtnl_route_delete(dev->nl, r, 0);
    rtnl_route_put(r);
  }
  if (rc < 0) {
    route_error(dev, "delete", dst, rc, err, errlen);
    return 0;
  }
  return 1;
}
