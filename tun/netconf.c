/* Network configuration of the TUN device over rtnetlink: link state and
 * MTU, addresses, routes (and the laptop's own routes they replace, put
 * back when they go), and the host route that keeps the server outside the
 * tunnel. Every function builds its libnl objects, sends its requests,
 * and frees what it built on every path. */
#include "tun.h"

#include <linux/ipv6_route.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>

#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include "log.h"

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

/* route_new builds a route object for add and delete: |dst| in the main
 * table, static, out of interface |ifindex|, through |gw| or |gw_via| when
 * given (an IPv4 route may have an IPv6 gateway: RTA_VIA) and then scope
 * universe, else scope link as the kernel's own connected routes. Returns
 * NULL with a libnl error in |*out_rc|. */
static struct rtnl_route *route_new(int ifindex, const struct zt_prefix *dst,
                                    struct nl_addr *gw, struct nl_addr *gw_via,
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
  rtnl_route_set_scope(r, gw != NULL || gw_via != NULL ? RT_SCOPE_UNIVERSE
                                                       : RT_SCOPE_LINK);
  rtnl_route_set_type(r, RTN_UNICAST);
  rtnl_route_nh_set_ifindex(nh, ifindex);
  /* the setters take their own references */
  if (gw != NULL) rtnl_route_nh_set_gateway(nh, gw);
  if (gw_via != NULL) rtnl_route_nh_set_via(nh, gw_via);
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

/* --- the laptop's own routes that routes through the device replace --- */

/* The metric of a route added without one, as tun_add_route adds them: a
 * route to the same prefix with this metric (and TOS 0) in table main is
 * the one that NLM_F_REPLACE replaces. */
static uint32_t default_priority(int family) {
  return family == AF_INET6 ? IP6_RT_PRIO_USER : 0;
}

/* route_dst_is: whether the destination of |r| is exactly |p|. A dumped
 * default route has an empty destination address. */
static int route_dst_is(struct rtnl_route *r, const struct zt_prefix *p) {
  struct nl_addr *d = rtnl_route_get_dst(r);
  size_t len = zt_ip_len(p->family);
  if (rtnl_route_get_family(r) != p->family) return 0;
  if (d == NULL) return p->len == 0;
  if (nl_addr_get_prefixlen(d) != p->len) return 0;
  if (p->len == 0) return 1;
  return nl_addr_get_len(d) == len &&
         memcmp(nl_addr_get_binary_addr(d), p->addr, len) == 0;
}

static int route_uses_ifindex(struct rtnl_route *r, int ifindex) {
  for (int i = 0; i < rtnl_route_get_nnexthops(r); i++)
    if (rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, i)) == ifindex)
      return 1;
  return 0;
}

/* route_copy_to_restore builds a route that adds |r| (from a dump of the
 * kernel's table, its destination |dst|) back as it was: type, scope,
 * protocol, metric, preferred source, route metrics, and each nexthop's
 * output interface, gateway and weight, but nothing that only the kernel
 * sets (linkdown and offload flags, cache information). Returns NULL with a
 * libnl error in |*out_rc|. */
static struct rtnl_route *route_copy_to_restore(struct rtnl_route *r,
                                                const struct zt_prefix *dst,
                                                int *out_rc) {
  struct nl_addr *d = prefix_to_nl(dst, out_rc);
  if (d == NULL) return NULL;
  struct rtnl_route *c = rtnl_route_alloc();
  if (c == NULL) {
    *out_rc = -NLE_NOMEM;
    goto fail;
  }
  rtnl_route_set_family(c, rtnl_route_get_family(r));
  *out_rc = rtnl_route_set_dst(c, d); /* takes its own reference */
  if (*out_rc < 0) goto fail;
  rtnl_route_set_table(c, RT_TABLE_MAIN);
  rtnl_route_set_type(c, rtnl_route_get_type(r));
  rtnl_route_set_scope(c, rtnl_route_get_scope(r));
  rtnl_route_set_protocol(c, rtnl_route_get_protocol(r));
  rtnl_route_set_priority(c, rtnl_route_get_priority(r));
  rtnl_route_set_flags(c, rtnl_route_get_flags(r) & RTNH_F_ONLINK);
  struct nl_addr *src = rtnl_route_get_pref_src(r);
  if (src != NULL && (*out_rc = rtnl_route_set_pref_src(c, src)) < 0) goto fail;
  for (int m = 1; m <= RTAX_MAX; m++) {
    uint32_t v;
    if (rtnl_route_get_metric(r, m, &v) == 0 &&
        (*out_rc = rtnl_route_set_metric(c, m, v)) < 0)
      goto fail;
  }
  for (int i = 0; i < rtnl_route_get_nnexthops(r); i++) {
    struct rtnl_nexthop *from = rtnl_route_nexthop_n(r, i);
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    if (nh == NULL) {
      *out_rc = -NLE_NOMEM;
      goto fail;
    }
    rtnl_route_nh_set_ifindex(nh, rtnl_route_nh_get_ifindex(from));
    /* the setters take their own references */
    if (rtnl_route_nh_get_gateway(from) != NULL)
      rtnl_route_nh_set_gateway(nh, rtnl_route_nh_get_gateway(from));
    if (rtnl_route_nh_get_via(from) != NULL)
      rtnl_route_nh_set_via(nh, rtnl_route_nh_get_via(from));
    rtnl_route_nh_set_weight(nh, rtnl_route_nh_get_weight(from));
    rtnl_route_nh_set_flags(nh, rtnl_route_nh_get_flags(from) & RTNH_F_ONLINK);
    rtnl_route_add_nexthop(c, nh); /* the route owns |nh| from here */
  }
  nl_addr_put(d);
  *out_rc = 0;
  return c;

fail:
  rtnl_route_put(c); /* accepts NULL */
  nl_addr_put(d);
  return NULL;
}

/* route_find_twin looks in table main for the route that adding |dst|
 * through |dev| would replace (see default_priority). On success |*out| is
 * a copy of it to add back later (route_copy_to_restore), or NULL when
 * there is none or it goes through |dev| already: our own route, from an
 * earlier add. Returns 0 or a negative libnl error code. */
static int route_find_twin(struct tun_dev *dev, const struct zt_prefix *dst,
                           struct rtnl_route **out) {
  struct nl_cache *cache = NULL;
  *out = NULL;
  /* Not an IP prefix: route_new says so. */
  if (zt_ip_len(dst->family) == 0) return 0;
  int rc = rtnl_route_alloc_cache(dev->nl, dst->family, 0, &cache);
  if (rc < 0) return rc;
  for (struct nl_object *o = nl_cache_get_first(cache); o != NULL;
       o = nl_cache_get_next(o)) {
    struct rtnl_route *r = (struct rtnl_route *)o;
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
        rtnl_route_get_tos(r) != 0 ||
        rtnl_route_get_priority(r) != default_priority(dst->family) ||
        !route_dst_is(r, dst))
      continue;
    /* The kernel replaces the first one that matches, in this order. */
    if (!route_uses_ifindex(r, dev->ifindex))
      *out = route_copy_to_restore(r, dst, &rc);
    break;
  }
  nl_cache_free(cache);
  return rc;
}

/* route_describe writes "DST [via GW] [dev IFNAME]" for logs. */
static const char *route_describe(struct rtnl_route *r, char *buf,
                                  size_t len) {
  char d[ZT_ADDR_STRLEN] = "?", gw[ZT_ADDR_STRLEN] = "";
  char ifname[IFNAMSIZ] = "";
  if (rtnl_route_get_dst(r) != NULL)
    nl_addr2str(rtnl_route_get_dst(r), d, sizeof(d));
  if (rtnl_route_get_nnexthops(r) > 0) {
    struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, 0);
    struct nl_addr *g = rtnl_route_nh_get_gateway(nh);
    if (g == NULL) g = rtnl_route_nh_get_via(nh);
    if (g != NULL) nl_addr2str(g, gw, sizeof(gw));
    int ifindex = rtnl_route_nh_get_ifindex(nh);
    if (ifindex > 0 && if_indextoname((unsigned)ifindex, ifname) == NULL)
      snprintf(ifname, sizeof(ifname), "#%d", ifindex);
  }
  snprintf(buf, len, "%s%s%s%s%s", d, gw[0] != '\0' ? " via " : "", gw,
           ifname[0] != '\0' ? " dev " : "", ifname);
  return buf;
}

/* saved_find gives the index in |dev->saved| of the route to exactly
 * |dst|, or -1. */
static int saved_find(struct tun_dev *dev, const struct zt_prefix *dst) {
  for (size_t i = 0; i < dev->nsaved; i++)
    if (route_dst_is(dev->saved[i], dst)) return (int)i;
  return -1;
}

/* saved_take removes entry |i| from |dev->saved| and returns it. */
static struct rtnl_route *saved_take(struct tun_dev *dev, size_t i) {
  struct rtnl_route *r = dev->saved[i];
  dev->saved[i] = dev->saved[--dev->nsaved];
  dev->saved[dev->nsaved] = NULL;
  return r;
}

/* route_save records |twin| (a route that |dst| through |dev| has just
 * replaced) in |dev->saved|, which takes the reference. */
static void route_save(struct tun_dev *dev, const struct zt_prefix *dst,
                       struct rtnl_route *twin) {
  char buf[128];
  /* An older copy for the same prefix is the laptop's route from before
   * it came back and was replaced again: the newer one is what to restore. */
  int old = saved_find(dev, dst);
  if (old >= 0) rtnl_route_put(saved_take(dev, (size_t)old));
  if (dev->nsaved >= TUN_MAX_SAVED_ROUTES) {
    log_warn("route %s replaced by the one through %s: more than %d such "
             "routes, this one will not be put back",
             route_describe(twin, buf, sizeof(buf)), dev->name,
             TUN_MAX_SAVED_ROUTES);
    rtnl_route_put(twin);
    return;
  }
  log_info("route %s replaced by the one through %s while it is up",
           route_describe(twin, buf, sizeof(buf)), dev->name);
  dev->saved[dev->nsaved++] = twin;
}

/* route_restore adds saved route |r| back and releases it. It does not
 * replace anything: a route to the same prefix and metric that is there
 * again by now stays. */
static void route_restore(struct tun_dev *dev, struct rtnl_route *r) {
  char buf[128];
  int rc = rtnl_route_add(dev->nl, r, NLM_F_EXCL);
  if (rc == -NLE_EXIST)
    log_info("route %s not put back: another route to it is there",
             route_describe(r, buf, sizeof(buf)));
  else if (rc < 0)
    log_warn("could not put back route %s: %s",
             route_describe(r, buf, sizeof(buf)), nl_geterror(rc));
  else
    log_info("route %s put back", route_describe(r, buf, sizeof(buf)));
  rtnl_route_put(r);
}

void tun_restore_routes(struct tun_dev *dev) {
  /* Without a netlink socket the device was never opened and |saved| is
   * not ours to look at (see tun_open). */
  while (dev->nl != NULL && dev->nsaved > 0)
    route_restore(dev, saved_take(dev, dev->nsaved - 1));
  dev->nsaved = 0;
}

int tun_add_route(struct tun_dev *dev, const struct zt_prefix *dst,
                  char *err, size_t errlen) {
  struct rtnl_route *twin = NULL;
  int rc = route_find_twin(dev, dst, &twin);
  if (rc == 0) {
    struct rtnl_route *r = route_new(dev->ifindex, dst, NULL, NULL, &rc);
    if (r != NULL) {
      /* rtnl_route_add adds NLM_F_CREATE; REPLACE makes a repeated add (a
       * reconnect pushing the same routes) succeed instead of EEXIST, and
       * takes over the laptop's own route to the same prefix, |twin|. */
      rc = rtnl_route_add(dev->nl, r, NLM_F_REPLACE);
      rtnl_route_put(r);
    }
  }
  if (rc < 0) {
    rtnl_route_put(twin); /* accepts NULL */
    route_error(dev, "add", dst, rc, err, errlen);
    return 0;
  }
  if (twin != NULL) route_save(dev, dst, twin);
  return 1;
}

int tun_del_route(struct tun_dev *dev, const struct zt_prefix *dst,
                  char *err, size_t errlen) {
  int rc;
  struct rtnl_route *r = route_new(dev->ifindex, dst, NULL, NULL, &rc);
  if (r != NULL) {
    rc = rtnl_route_delete(dev->nl, r, 0);
    rtnl_route_put(r);
  }
  /* Once ours is gone, by now or before, the laptop's route can be back. */
  int i;
  if ((rc == 0 || rc == -NLE_OBJ_NOTFOUND) && (i = saved_find(dev, dst)) >= 0)
    route_restore(dev, saved_take(dev, (size_t)i));
  if (rc < 0) {
    route_error(dev, "delete", dst, rc, err, errlen);
    return 0;
  }
  return 1;
}

/* --- the host route that keeps the server outside the tunnel --- */

/* Where a route lookup's answer goes: the parsed route, or a libnl error
 * from parsing it, or the kernel's errno when it answered with an error
 * (libnl's own codes lose "Network is unreachable"). */
struct route_answer {
  struct rtnl_route *route;
  int rc;
  int sys_err;
};

static int route_answer_error(struct sockaddr_nl *who, struct nlmsgerr *e,
                              void *arg) {
  (void)who;
  struct route_answer *ans = arg;
  ans->sys_err = e->error < 0 ? -e->error : e->error;
  return NL_STOP;
}

static int route_answer_valid(struct nl_msg *msg, void *arg) {
  struct route_answer *ans = arg;
  struct nlmsghdr *n = nlmsg_hdr(msg);
  if (n->nlmsg_type != RTM_NEWROUTE || ans->route != NULL) return NL_SKIP;
  ans->rc = rtnl_route_parse(n, &ans->route);
  if (ans->rc < 0) ans->route = NULL;
  return NL_OK;
}

/* route_get asks the kernel which route it uses for |dst| now, like `ip
 * route get DST`. On success |*out| is the resolved route (type, output
 * interface, gateway), owned by the caller. Returns 0 or a negative libnl
 * error code; |*sys_err| is then the kernel's errno if it refused (such as
 * ENETUNREACH: no route), or 0. */
static int route_get(struct nl_sock *sk, const struct zt_ip *dst,
                     struct rtnl_route **out, int *sys_err) {
  size_t len = zt_ip_len(dst->family);
  *sys_err = 0;
  if (len == 0) return -NLE_AF_NOSUPPORT;
  struct rtmsg rtm = {.rtm_family = (unsigned char)dst->family,
                      .rtm_dst_len = (unsigned char)(len * 8)};
  struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, 0);
  struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
  struct route_answer ans = {NULL, 0, 0};
  int rc = -NLE_NOMEM;
  if (msg == NULL || cb == NULL ||
      nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
      nla_put(msg, RTA_DST, (int)len, dst->addr) < 0)
    goto out;
  nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, route_answer_valid, &ans);
  nl_cb_err(cb, NL_CB_CUSTOM, route_answer_error, &ans);
  rc = nl_send_auto(sk, msg);
  if (rc < 0) goto out;
  /* The answer is one RTM_NEWROUTE, or an error instead of it; the socket
   * asks for acknowledgements, and the ACK follows the answer. */
  rc = nl_recvmsgs(sk, cb);
  if (rc >= 0 && ans.rc < 0) rc = ans.rc;
  if (rc >= 0 && ans.route == NULL) rc = -NLE_OBJ_NOTFOUND;
  if (rc >= 0) rc = nl_wait_for_ack(sk);
out:
  *sys_err = ans.sys_err;
  if (rc < 0) {
    rtnl_route_put(ans.route); /* accepts NULL */
  } else {
    *out = ans.route;
    rc = 0;
  }
  nl_cb_put(cb);
  nlmsg_free(msg);
  return rc;
}

/* pin_new builds the host route to |dst| through the first nexthop of
 * |via| (a resolved route). Returns NULL with a libnl error in |*out_rc|. */
static struct rtnl_route *pin_new(const struct zt_ip *dst,
                                  struct rtnl_nexthop *via, int *out_rc) {
  struct zt_prefix host = {.family = dst->family,
                           .len = (uint8_t)(zt_ip_len(dst->family) * 8)};
  memcpy(host.addr, dst->addr, sizeof(host.addr));
  return route_new(rtnl_route_nh_get_ifindex(via), &host,
                   rtnl_route_nh_get_gateway(via), rtnl_route_nh_get_via(via), out_rc);
}

static const char *route_type_name(uint8_t type) {
  switch (type) {
    case RTN_BLACKHOLE: return "a blackhole";
    case RTN_UNREACHABLE: return "unreachable";
    case RTN_PROHIBIT: return "prohibited";
    case RTN_BROADCAST: return "a broadcast address";
    case RTN_MULTICAST: return "a multicast address";
    default: return "not a unicast route";
  }
}

int tun_pin_host_route(struct tun_dev *dev, const struct zt_ip *dst,
                       char *err, size_t errlen) {
  char a[ZT_ADDR_STRLEN];
  struct rtnl_route *cur = NULL, *pin = NULL;
  int rc, sys_err;
  if (zt_ip_len(dst->family) == 0) {
    snprintf(err, errlen, "pin the route to the server: not an IP address");
    return 0;
  }
  zt_ip_format(dst, a);
  rc = route_get(dev->nl, dst, &cur, &sys_err);
  if (rc < 0) {
    snprintf(err, errlen, "pin the route to the server %s: no route to it: %s",
             a, sys_err != 0 ? strerror(sys_err) : nl_geterror(rc));
    return 0;
  }
  uint8_t type = rtnl_route_get_type(cur);
  struct rtnl_nexthop *via =
      rtnl_route_get_nnexthops(cur) > 0 ? rtnl_route_nexthop_n(cur, 0) : NULL;
  int ok = 0;
  if (type == RTN_LOCAL) {
    /* The local table is consulted before main: routes through the device
     * can never capture a local address. */
    ok = 1;
  } else if (type != RTN_UNICAST) {
    snprintf(err, errlen, "pin the route to the server %s: the route to it is %s",
             a, route_type_name(type));
  } else if (via == NULL || rtnl_route_nh_get_ifindex(via) <= 0) {
    snprintf(err, errlen,
             "pin the route to the server %s: the kernel's route has no "
             "output interface", a);
  } else if (rtnl_route_nh_get_ifindex(via) == dev->ifindex) {
    snprintf(err, errlen,
             "pin the route to the server %s: it already goes through %s, "
             "so the connection to the server would loop into the tunnel",
             a, dev->name);
  } else if ((pin = pin_new(dst, via, &rc)) == NULL ||
             /* rtnl_route_add adds NLM_F_CREATE; REPLACE takes over a pin
              * that a killed client left behind, so that this one is ours
              * and goes when the device closes. */
             (rc = rtnl_route_add(dev->nl, pin, NLM_F_REPLACE)) < 0) {
    char ifname[IFNAMSIZ];
    if (if_indextoname((unsigned)rtnl_route_nh_get_ifindex(via), ifname) == NULL)
      snprintf(ifname, sizeof(ifname), "#%d", rtnl_route_nh_get_ifindex(via));
    snprintf(err, errlen, "pin the route to the server %s (dev %s): %s", a,
             ifname, nl_geterror(rc));
  } else {
    ok = 1;
    struct rtnl_route *old = dev->pinned;
    dev->pinned = pin;
    pin = NULL;
    /* REPLACE already rewrote an earlier pin to the same address in place:
     * deleting it now would delete the new one. */
    if (old != NULL &&
        nl_addr_cmp(rtnl_route_get_dst(old), rtnl_route_get_dst(dev->pinned)) != 0)
      rtnl_route_delete(dev->nl, old, 0);
    rtnl_route_put(old);
  }
  rtnl_route_put(pin);
  rtnl_route_put(cur);
  return ok;
}

void tun_unpin_host_route(struct tun_dev *dev) {
  /* Without a netlink socket the device was never opened and |pinned| is
   * not ours to look at (see tun_open). */
  if (dev->nl != NULL && dev->pinned != NULL) {
    /* Fails only if the route is gone already: nothing left to do. */
    rtnl_route_delete(dev->nl, dev->pinned, 0);
    rtnl_route_put(dev->pinned);
  }
  dev->pinned = NULL;
}
