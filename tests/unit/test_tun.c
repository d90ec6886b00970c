/* tun/ against the real kernel. The process moves into a private network
 * namespace first, so the device, addresses and routes it creates never
 * touch the host, and the namespace starts with no routes at all: a route
 * lookup that succeeds can only have used ours. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare, CLONE_NEWNET */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ifinfo.h"

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include "tun.h"

#define TEST_IF "zttest0"
#define TEST_MTU 1400
#define ADDR4 "100.64.0.1"
#define ADDR6 "fd00:5a::1"
#define ROUTE4 "198.51.100.0/24"
#define ROUTE6 "fd00:77::/64"
#define PEER4 "198.51.100.7" /* inside ROUTE4, so it leaves through the TUN */
#define PEER6 "fd00:77::7"

/* The calls under test report failures in |err|: show it. */
#define assert_ok(call)                            \
  do {                                             \
    if (!(call)) fail_msg("%s: %s", #call, err);   \
  } while (0)


static struct zt_prefix route(const char *s) {
  struct zt_prefix p;
  const char *why = NULL;
  if (!zt_prefix_parse(s, &p, &why)) fail_msg("%s: %s", s, why);
  return p;
}

static struct tun_dev *state_dev(void **state) { return *state; }

static int configure(struct tun_dev *dev, char *err, size_t errlen) {
  struct zt_prefix a4 = ifinfo_prefix(ADDR4, 24), a6 = ifinfo_prefix(ADDR6, 64);
  struct zt_prefix r4 = route(ROUTE4), r6 = route(ROUTE6);
  return tun_open(TEST_IF, dev, err, errlen) &&
         tun_set_mtu_up(dev, TEST_MTU, err, errlen) &&
         tun_add_address(dev, &a4, err, errlen) &&
         tun_add_address(dev, &a6, err, errlen) &&
         tun_add_route(dev, &r4, err, errlen) &&
         tun_add_route(dev, &r6, err, errlen);
}

/* setup_configured gives each test a device configured the way the client
 * configures one: up, both address families, one route per family. A
 * failed setup cleans up itself, because cmocka then skips the teardown. */
static int setup_configured(void **state) {
  char err[256] = "";
  struct tun_dev *dev = test_malloc(sizeof(*dev));
  dev->fd = -1;
  dev->nl = NULL;
  if (!configure(dev, err, sizeof(err))) {
    print_error("setup: %s\n", err);
    tun_close(dev);
    test_free(dev);
    return -1;
  }
  *state = dev;
  return 0;
}

static int teardown_configured(void **state) {
  struct tun_dev *dev = state_dev(state);
  tun_close(dev);
  test_free(dev);
  return 0;
}

/* --- helpers that look at the kernel without going through tun/ --- */

/* count_addrs counts the addresses |ip| on TEST_IF and checks that each
 * one has prefix length |len|. */
static int count_addrs(const char *ip, unsigned len) {
  struct zt_ip want;
  assert_true(zt_ip_parse(ip, &want));
  struct ifaddrs *all;
  assert_int_equal(getifaddrs(&all), 0);
  int n = 0;
  for (struct ifaddrs *i = all; i != NULL; i = i->ifa_next) {
    if (i->ifa_addr == NULL || strcmp(i->ifa_name, TEST_IF) != 0) continue;
    if (i->ifa_addr->sa_family != want.family) continue;
    const void *a = want.family == AF_INET
        ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
        : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
    if (memcmp(a, want.addr, zt_ip_len(want.family)) != 0) continue;
    assert_non_null(i->ifa_netmask);
    assert_int_equal(ifinfo_mask_bits(i->ifa_netmask), len);
    n++;
  }
  freeifaddrs(all);
  return n;
}

/* addr_flags returns the IFA_F_* flags of address |ip| on device |ifindex|
 * as the kernel reports them (getifaddrs does not show flags). */
static unsigned addr_flags(int ifindex, const char *ip) {
  struct zt_ip want;
  assert_true(zt_ip_parse(ip, &want));
  struct nl_sock *sk = nl_socket_alloc();
  assert_non_null(sk);
  assert_int_equal(nl_connect(sk, NETLINK_ROUTE), 0);
  struct nl_cache *cache = NULL;
  assert_int_equal(rtnl_addr_alloc_cache(sk, &cache), 0);
  int found = 0;
  unsigned flags = 0;
  for (struct nl_object *o = nl_cache_get_first(cache); o != NULL;
       o = nl_cache_get_next(o)) {
    struct rtnl_addr *a = (struct rtnl_addr *)o;
    struct nl_addr *local = rtnl_addr_get_local(a);
    if (rtnl_addr_get_ifindex(a) != ifindex || local == NULL ||
        nl_addr_get_family(local) != want.family ||
        memcmp(nl_addr_get_binary_addr(local), want.addr,
               zt_ip_len(want.family)) != 0)
      continue;
    flags = rtnl_addr_get_flags(a);
    found++;
  }
  nl_cache_free(cache);
  nl_socket_free(sk);
  assert_int_equal(found, 1);
  return flags;
}

static socklen_t sockaddr_of(const char *ip, uint16_t port,
                             struct sockaddr_storage *ss) {
  struct zt_ip a;
  assert_true(zt_ip_parse(ip, &a));
  memset(ss, 0, sizeof(*ss));
  if (a.family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    memcpy(&sin->sin_addr, a.addr, 4);
    return sizeof(*sin);
  }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  memcpy(&sin6->sin6_addr, a.addr, 16);
  return sizeof(*sin6);
}

/* udp_connect connects a UDP socket to |ip|, which does a route lookup and
 * picks a source address. Returns the socket, or -1 with errno. */
static int udp_connect(const char *ip) {
  struct sockaddr_storage ss;
  socklen_t sl = sockaddr_of(ip, 9, &ss);
  int s = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(s >= 0);
  if (connect(s, (struct sockaddr *)&ss, sl) != 0) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
  return s;
}

static void assert_source(int s, const char *ip) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  assert_int_equal(getsockname(s, (struct sockaddr *)&ss, &sl), 0);
  char got[INET6_ADDRSTRLEN];
  const void *a = ss.ss_family == AF_INET
      ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
      : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
  assert_non_null(inet_ntop(ss.ss_family, a, got, sizeof(got)));
  assert_string_equal(got, ip);
}

/* read_packet_to reads packets from the TUN until one is addressed to |ip|
 * and returns its length. Other packets (IPv6 router solicitations, MLD
 * reports the kernel sends on a new link) are skipped. */
static size_t read_packet_to(int fd, const char *ip, uint8_t *buf,
                             size_t cap) {
  struct zt_ip want;
  assert_true(zt_ip_parse(ip, &want));
  for (int tries = 0; tries < 64; tries++) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, 2000);
    if (r != 1) fail_msg("no packet to %s from the TUN: %s", ip,
                         r == 0 ? "timeout" : strerror(errno));
    ssize_t n = read(fd, buf, cap);
    assert_true(n > 0);
    if ((buf[0] >> 4) == 4 && want.family == AF_INET &&
        (size_t)n >= sizeof(struct ip)) {
      struct ip h;
      memcpy(&h, buf, sizeof(h));
      if (memcmp(&h.ip_dst, want.addr, 4) == 0) return (size_t)n;
    } else if ((buf[0] >> 4) == 6 && want.family == AF_INET6 &&
               (size_t)n >= sizeof(struct ip6_hdr)) {
      struct ip6_hdr h;
      memcpy(&h, buf, sizeof(h));
      if (memcmp(&h.ip6_dst, want.addr, 16) == 0) return (size_t)n;
    }
  }
  fail_msg("no packet to %s among 64 read from the TUN", ip);
  return 0;
}

static uint16_t inet_csum(const uint8_t *p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* --- a local network with a gateway, for the pinned host route --- */

/* The laptop's own network of ifinfo.h, here with IPv6 too (LAN_ADDR6,
 * gateway LAN_GW6) and no default route: LAN_GW leads to SERVER_NET, where
 * SERVER and SERVER2 live, and LAN_GW6 to SERVER_NET6 (SERVER6). */
#define LAN_ADDR6 "fd00:1::2"
#define LAN_GW6 "fd00:1::1"
#define SERVER_NET "203.0.113.0/24"
#define SERVER_NET6 "fd00:cb::/64"
#define SERVER6 "fd00:cb::10"

static int setup_lan(void **state) {
  if (setup_configured(state) != 0) return -1;
  ifinfo_run(IFINFO_LAN_UP " && "
             "ip -6 addr add " LAN_ADDR6 "/64 dev " LAN_IF " nodad && "
             "ip route add " SERVER_NET " via " LAN_GW " && "
             "ip -6 route add " SERVER_NET6 " via " LAN_GW6);
  return 0;
}

static int teardown_lan(void **state) {
  teardown_configured(state);
  /* Deleting one end deletes the pair, with its addresses and routes. */
  ifinfo_run("ip link del " LAN_IF);
  return 0;
}

/* struct found_route is what the kernel's main table holds for one
 * destination prefix. */
struct found_route {
  int n;             /* how many routes to exactly that prefix */
  char gw[INET6_ADDRSTRLEN]; /* the first one's gateway, "" without */
  int ifindex;
  int scope;
  int protocol;
};

/* find_route reads the main table through its own netlink socket (not
 * tun/'s) and describes the routes to exactly |dst| ("ADDR/LEN"). */
static struct found_route find_route(const char *dst) {
  struct found_route f;
  memset(&f, 0, sizeof(f));
  struct nl_addr *want = NULL;
  assert_int_equal(nl_addr_parse(dst, AF_UNSPEC, &want), 0);
  struct nl_sock *sk = nl_socket_alloc();
  assert_non_null(sk);
  assert_int_equal(nl_connect(sk, NETLINK_ROUTE), 0);
  struct nl_cache *cache = NULL;
  assert_int_equal(rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &cache), 0);
  for (struct nl_object *o = nl_cache_get_first(cache); o != NULL;
       o = nl_cache_get_next(o)) {
    struct rtnl_route *r = (struct rtnl_route *)o;
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
        nl_addr_cmp(rtnl_route_get_dst(r), want) != 0)
      continue;
    if (f.n++ > 0) continue;
    f.scope = rtnl_route_get_scope(r);
    f.protocol = rtnl_route_get_protocol(r);
    assert_true(rtnl_route_get_nnexthops(r) >= 1);
    struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, 0);
    f.ifindex = rtnl_route_nh_get_ifindex(nh);
    struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);
    if (gw != NULL) nl_addr2str(gw, f.gw, sizeof(f.gw));
  }
  nl_cache_free(cache);
  nl_socket_free(sk);
  nl_addr_put(want);
  return f;
}

/* assert_pinned: exactly one host route to |ip| ("/32" or "/128" given in
 * |host|), static, through |gw| ("" for on-link) out of LAN_IF. */
static void assert_pinned(const char *host, const char *gw) {
  struct found_route f = find_route(host);
  if (f.n != 1) fail_msg("%d routes to %s, wanted 1", f.n, host);
  assert_string_equal(f.gw, gw);
  assert_int_equal(f.ifindex, (int)if_nametoindex(LAN_IF));
  assert_int_equal(f.protocol, RTPROT_STATIC);
  assert_int_equal(f.scope, gw[0] != '\0' ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
}

static void assert_no_route(const char *dst) {
  struct found_route f = find_route(dst);
  if (f.n != 0) fail_msg("%d routes to %s, wanted none", f.n, dst);
}

static struct zt_ip ip_of(const char *s) {
  struct zt_ip a;
  if (!zt_ip_parse(s, &a)) fail_msg("bad address %s", s);
  return a;
}

/* source_is: a connection to |ip| leaves with source address |src|, which
 * tells which route the kernel took (LAN_ADDR: the LAN, ADDR4: the TUN). */
static void source_is(const char *ip, const char *src) {
  int s = udp_connect(ip);
  if (s < 0) fail_msg("connect %s: %s", ip, strerror(errno));
  assert_source(s, src);
  close(s);
}

/* --- tests --- */

static void test_open_rejects_long_name(void **state) {
  (void)state;
  char err[256] = "";
  struct tun_dev dev;
  memset(&dev, 0x5a, sizeof(dev));
  assert_int_equal(tun_open("zttest0123456789abcd", &dev, err, sizeof(err)),
                   0);
  assert_non_null(strstr(err, "zttest0123456789abcd"));
  assert_int_equal(dev.fd, -1);
  assert_null(dev.nl);
  tun_close(&dev); /* a failed open leaves a closed device */
}

static void test_close_zeroed_leaves_stdin(void **state) {
  (void)state;
  /* Make sure fd 0 is open, so that closing it would be visible. */
  int extra = -1;
  if (fcntl(0, F_GETFD) == -1) extra = open("/dev/null", O_RDONLY);
  assert_int_not_equal(fcntl(0, F_GETFD), -1);
  struct tun_dev dev;
  memset(&dev, 0, sizeof(dev));
  tun_close(&dev);
  tun_close(&dev);
  assert_int_not_equal(fcntl(0, F_GETFD), -1);
  assert_int_equal(dev.fd, -1);
  tun_close(NULL);
  if (extra > 0) close(extra);
}

static void test_open_kernel_picks_name(void **state) {
  (void)state;
  char err[256] = "";
  struct tun_dev dev;
  assert_ok(tun_open(NULL, &dev, err, sizeof(err)));
  assert_true(dev.name[0] != '\0');
  assert_int_equal(dev.ifindex, (int)if_nametoindex(dev.name));
  char name[IFNAMSIZ];
  memcpy(name, dev.name, sizeof(name));
  tun_close(&dev);
  assert_int_equal(if_nametoindex(name), 0);
}

static void test_open_device(void **state) {
  struct tun_dev *dev = state_dev(state);
  assert_string_equal(dev->name, TEST_IF);
  assert_true(dev->ifindex > 0);
  assert_int_equal(dev->ifindex, (int)if_nametoindex(TEST_IF));
  assert_non_null(dev->nl);
  int fl = fcntl(dev->fd, F_GETFL);
  assert_true(fl != -1 && (fl & O_NONBLOCK));
  int fdfl = fcntl(dev->fd, F_GETFD);
  assert_true(fdfl != -1 && (fdfl & FD_CLOEXEC));
}

static void test_mtu_and_up(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  assert_int_equal(ifinfo_get(TEST_IF, SIOCGIFMTU).ifr_mtu, TEST_MTU);
  assert_true(ifinfo_get(TEST_IF, SIOCGIFFLAGS).ifr_flags & IFF_UP);
  assert_ok(tun_set_mtu_up(dev, 1280, err, sizeof(err)));
  assert_int_equal(ifinfo_get(TEST_IF, SIOCGIFMTU).ifr_mtu, 1280);
  /* Below the device's minimum MTU: the kernel refuses, with a reason. */
  assert_int_equal(tun_set_mtu_up(dev, 10, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "set MTU 10 and link up on " TEST_IF ": "));
}

static void test_addresses(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  assert_int_equal(count_addrs(ADDR4, 24), 1);
  assert_int_equal(count_addrs(ADDR6, 64), 1);
  unsigned f6 = addr_flags(dev->ifindex, ADDR6);
  assert_true(f6 & IFA_F_NODAD);
  assert_false(f6 & IFA_F_TENTATIVE);
  /* Assigning again is a no-op, not an error. */
  struct zt_prefix a4 = ifinfo_prefix(ADDR4, 24), a6 = ifinfo_prefix(ADDR6, 64);
  assert_ok(tun_add_address(dev, &a4, err, sizeof(err)));
  assert_ok(tun_add_address(dev, &a6, err, sizeof(err)));
  assert_int_equal(count_addrs(ADDR4, 24), 1);
  assert_int_equal(count_addrs(ADDR6, 64), 1);
}

static void test_address_bad_family(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  struct zt_prefix bad;
  memset(&bad, 0, sizeof(bad));
  bad.family = AF_UNIX;
  assert_int_equal(tun_add_address(dev, &bad, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "add address"));
  struct zt_prefix long4 = ifinfo_prefix("192.0.2.1", 33);
  assert_int_equal(tun_add_address(dev, &long4, err, sizeof(err)), 0);
}

static void test_routes_pick_tun_source(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  int s4 = udp_connect(PEER4);
  if (s4 < 0) fail_msg("connect %s: %s", PEER4, strerror(errno));
  assert_source(s4, ADDR4);
  close(s4);
  /* IPv6 can use the address at once only because DAD was skipped. */
  int s6 = udp_connect(PEER6);
  if (s6 < 0) fail_msg("connect %s: %s", PEER6, strerror(errno));
  assert_source(s6, ADDR6);
  close(s6);
  /* Adding an existing route replaces it. */
  struct zt_prefix r4 = route(ROUTE4), r6 = route(ROUTE6);
  assert_ok(tun_add_route(dev, &r4, err, sizeof(err)));
  assert_ok(tun_add_route(dev, &r6, err, sizeof(err)));
  /* Outside the routes nothing is reachable in the fresh namespace. */
  assert_int_equal(udp_connect("192.0.2.1"), -1);
  assert_int_equal(errno, ENETUNREACH);
}

static void test_del_route(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  struct zt_prefix r4 = route(ROUTE4), r6 = route(ROUTE6);
  assert_ok(tun_del_route(dev, &r4, err, sizeof(err)));
  assert_int_equal(udp_connect(PEER4), -1);
  assert_int_equal(errno, ENETUNREACH);
  assert_ok(tun_del_route(dev, &r6, err, sizeof(err)));
  assert_int_equal(udp_connect(PEER6), -1);
  assert_int_equal(errno, ENETUNREACH);
  /* A route that is not there cannot be deleted; the reason names it. */
  assert_int_equal(tun_del_route(dev, &r4, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "delete route " ROUTE4 " via " TEST_IF ": "));
  /* And it can be added back. */
  assert_ok(tun_add_route(dev, &r4, err, sizeof(err)));
  int s4 = udp_connect(PEER4);
  assert_true(s4 >= 0);
  close(s4);
}

static void send_hello(const char *peer) {
  int s = udp_connect(peer);
  if (s < 0) fail_msg("connect %s: %s", peer, strerror(errno));
  assert_int_equal(send(s, "hello", 5, 0), 5);
  close(s);
}

static void test_udp_reaches_tun(void **state) {
  struct tun_dev *dev = state_dev(state);
  uint8_t buf[2048];

  send_hello(PEER4);
  size_t n = read_packet_to(dev->fd, PEER4, buf, sizeof(buf));
  struct ip h4;
  assert_true(n >= sizeof(h4) + 8 + 5);
  memcpy(&h4, buf, sizeof(h4));
  assert_int_equal(h4.ip_p, IPPROTO_UDP);
  assert_int_equal(ntohs(h4.ip_len), n);
  assert_int_equal(h4.ip_hl * 4 + 8 + 5, n);
  struct zt_ip src;
  assert_true(zt_ip_parse(ADDR4, &src));
  assert_memory_equal(&h4.ip_src, src.addr, 4);
  assert_memory_equal(buf + n - 5, "hello", 5);

  send_hello(PEER6);
  n = read_packet_to(dev->fd, PEER6, buf, sizeof(buf));
  struct ip6_hdr h6;
  assert_int_equal(n, sizeof(h6) + 8 + 5);
  memcpy(&h6, buf, sizeof(h6));
  assert_int_equal(h6.ip6_nxt, IPPROTO_UDP);
  assert_true(zt_ip_parse(ADDR6, &src));
  assert_memory_equal(&h6.ip6_src, src.addr, 16);
  assert_memory_equal(buf + n - 5, "hello", 5);
}

/* An echo request written into the TUN as if from PEER4 reaches the local
 * stack, and the reply is routed back out through the TUN. */
static void test_icmp_echo_through_tun(void **state) {
  struct tun_dev *dev = state_dev(state);
  struct zt_ip peer, local;
  assert_true(zt_ip_parse(PEER4, &peer));
  assert_true(zt_ip_parse(ADDR4, &local));

  uint8_t pkt[20 + 8 + 8];
  memset(pkt, 0, sizeof(pkt));
  struct ip h;
  memset(&h, 0, sizeof(h));
  h.ip_v = 4;
  h.ip_hl = 5;
  h.ip_len = htons(sizeof(pkt));
  h.ip_ttl = 64;
  h.ip_p = IPPROTO_ICMP;
  memcpy(&h.ip_src, peer.addr, 4);
  memcpy(&h.ip_dst, local.addr, 4);
  memcpy(pkt, &h, sizeof(h));
  uint16_t c = inet_csum(pkt, 20);
  pkt[10] = (uint8_t)(c >> 8);
  pkt[11] = (uint8_t)c;
  uint8_t *icmp = pkt + 20;
  icmp[0] = ICMP_ECHO;
  icmp[4] = 0x5a; /* identifier */
  icmp[5] = 0x17;
  icmp[7] = 1; /* sequence */
  memcpy(icmp + 8, "ztvpn!!!", 8);
  c = inet_csum(icmp, 16);
  icmp[2] = (uint8_t)(c >> 8);
  icmp[3] = (uint8_t)c;

  assert_int_equal(write(dev->fd, pkt, sizeof(pkt)), sizeof(pkt));

  uint8_t buf[2048];
  size_t n = read_packet_to(dev->fd, PEER4, buf, sizeof(buf));
  assert_int_equal(n, sizeof(pkt));
  memcpy(&h, buf, sizeof(h));
  assert_int_equal(h.ip_p, IPPROTO_ICMP);
  assert_memory_equal(&h.ip_src, local.addr, 4);
  assert_int_equal(buf[20], ICMP_ECHOREPLY);
  assert_memory_equal(buf + 24, icmp + 4, 12); /* id, seq, payload */
}

static void test_close_removes_device(void **state) {
  struct tun_dev *dev = state_dev(state);
  assert_true(if_nametoindex(TEST_IF) > 0);
  tun_close(dev);
  assert_int_equal(dev->fd, -1);
  assert_null(dev->nl);
  assert_int_equal(if_nametoindex(TEST_IF), 0);
  /* Its addresses and routes went with it. */
  assert_int_equal(udp_connect(PEER4), -1);
  assert_int_equal(errno, ENETUNREACH);
  tun_close(dev); /* and closing twice is harmless */
}

/* The server is behind the LAN's gateway: the pin copies gateway and
 * interface, wins over a route through the TUN that covers the server, and
 * goes when the device closes while the LAN's own routes stay. */
static void test_pin_via_gateway(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  struct zt_ip server = ip_of(SERVER);
  assert_null(dev->pinned);
  assert_ok(tun_pin_host_route(dev, &server, err, sizeof(err)));
  assert_non_null(dev->pinned);
  assert_pinned(SERVER "/32", LAN_GW);
  /* Now a route more specific than the LAN's takes the server's network
   * into the tunnel, the way a full tunnel takes everything: the server
   * itself stays outside. */
  struct zt_prefix net = route("203.0.113.0/25");
  assert_ok(tun_add_route(dev, &net, err, sizeof(err)));
  source_is(SERVER, LAN_ADDR);
  source_is("203.0.113.11", ADDR4);
  ifinfo_run("ip route get " SERVER " | grep -q 'via " LAN_GW " dev " LAN_IF "'");

  tun_close(dev);
  assert_null(dev->pinned);
  assert_no_route(SERVER "/32");
  /* the LAN's route to the server network is untouched */
  struct found_route f = find_route(SERVER_NET);
  assert_int_equal(f.n, 1);
  assert_string_equal(f.gw, LAN_GW);
  source_is(SERVER, LAN_ADDR);
}

static void test_pin_ipv6(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  struct zt_ip server = ip_of(SERVER6);
  assert_ok(tun_pin_host_route(dev, &server, err, sizeof(err)));
  assert_pinned(SERVER6 "/128", LAN_GW6);
  struct zt_prefix net = route("fd00:cb::/65");
  assert_ok(tun_add_route(dev, &net, err, sizeof(err)));
  source_is(SERVER6, LAN_ADDR6);
  source_is("fd00:cb::11", ADDR6);
  tun_close(dev);
  assert_no_route(SERVER6 "/128");
}

/* A server on the laptop's own network is pinned on-link: scope link, no
 * gateway. */
static void test_pin_on_link(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  struct zt_ip server = ip_of("192.0.2.9");
  assert_ok(tun_pin_host_route(dev, &server, err, sizeof(err)));
  assert_pinned("192.0.2.9/32", "");
  tun_close(dev);
  assert_no_route("192.0.2.9/32");
}

/* Pinning another address moves the pin; pinning the same one again keeps
 * it (the replacement must not delete what it just replaced). */
static void test_pin_moves(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  struct zt_ip s1 = ip_of(SERVER), s2 = ip_of(SERVER2);
  assert_ok(tun_pin_host_route(dev, &s1, err, sizeof(err)));
  assert_ok(tun_pin_host_route(dev, &s2, err, sizeof(err)));
  assert_no_route(SERVER "/32");
  assert_pinned(SERVER2 "/32", LAN_GW);
  assert_ok(tun_pin_host_route(dev, &s2, err, sizeof(err)));
  assert_pinned(SERVER2 "/32", LAN_GW);
  tun_unpin_host_route(dev);
  assert_null(dev->pinned);
  assert_no_route(SERVER2 "/32");
  tun_unpin_host_route(dev); /* twice is harmless */
}

/* A pin left behind by a client that was killed is taken over, so that it
 * goes with this device. */
static void test_pin_takes_over_leftover(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  ifinfo_run("ip route add " SERVER "/32 via " LAN_GW " proto static");
  struct zt_ip server = ip_of(SERVER);
  assert_ok(tun_pin_host_route(dev, &server, err, sizeof(err)));
  assert_pinned(SERVER "/32", LAN_GW);
  tun_close(dev);
  assert_no_route(SERVER "/32");
}

/* A pin the kernel removed by itself (its interface went away) is simply
 * forgotten at close. */
static void test_pin_gone_before_close(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  struct zt_ip server = ip_of(SERVER);
  assert_ok(tun_pin_host_route(dev, &server, err, sizeof(err)));
  ifinfo_run("ip route del " SERVER "/32");
  tun_close(dev);
  assert_null(dev->pinned);
  assert_no_route(SERVER "/32");
}

static void test_pin_refusals(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  /* already through the TUN: pinning would pin the loop itself */
  struct zt_ip peer = ip_of(PEER4);
  assert_int_equal(tun_pin_host_route(dev, &peer, err, sizeof(err)), 0);
  assert_non_null(strstr(err, PEER4 ": it already goes through " TEST_IF));
  assert_null(dev->pinned);
  assert_no_route(PEER4 "/32");
  /* no route at all */
  struct zt_ip nowhere = ip_of("fd00:99::1");
  assert_int_equal(tun_pin_host_route(dev, &nowhere, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "fd00:99::1: no route to it: "));
  assert_non_null(strstr(err, strerror(ENETUNREACH)));
  assert_null(dev->pinned);
  /* not an address */
  struct zt_ip bad;
  memset(&bad, 0, sizeof(bad));
  bad.family = AF_UNIX;
  assert_int_equal(tun_pin_host_route(dev, &bad, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "not an IP address"));
  /* a failed pin leaves an earlier one alone */
  struct zt_ip server = ip_of(SERVER);
  assert_ok(tun_pin_host_route(dev, &server, err, sizeof(err)));
  assert_int_equal(tun_pin_host_route(dev, &peer, err, sizeof(err)), 0);
  assert_non_null(dev->pinned);
  assert_pinned(SERVER "/32", LAN_GW);
}

/* An address of this host needs no pin: the local table comes first. */
static void test_pin_local_is_noop(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  struct zt_ip local = ip_of(LAN_ADDR);
  assert_ok(tun_pin_host_route(dev, &local, err, sizeof(err)));
  assert_null(dev->pinned);
  assert_no_route(LAN_ADDR "/32");
}

/* --- the laptop's own routes to the prefixes the tunnel takes over --- */

/* setup_twins: the laptop's LAN already routes ROUTE4 via LAN_GW and
 * ROUTE6 via LAN_GW6 when the device comes up with routes to the very same
 * prefixes, which replace them. */
static int setup_twins(void **state) {
  ifinfo_run(IFINFO_LAN_UP " && "
             "ip -6 addr add " LAN_ADDR6 "/64 dev " LAN_IF " nodad && "
             "ip route add " ROUTE4 " via " LAN_GW " && "
             "ip -6 route add " ROUTE6 " via " LAN_GW6);
  if (setup_configured(state) != 0) {
    ifinfo_run("ip link del " LAN_IF);
    return -1;
  }
  return 0;
}

/* assert_tun_route: exactly one route to |dst|, out of TEST_IF. */
static void assert_tun_route(const char *dst) {
  struct found_route f = find_route(dst);
  if (f.n != 1) fail_msg("%d routes to %s, wanted 1", f.n, dst);
  assert_int_equal(f.ifindex, (int)if_nametoindex(TEST_IF));
  assert_string_equal(f.gw, "");
}

/* assert_lan_route: exactly one route to |dst|, the one `ip route add DST
 * via GW` made (protocol boot), out of LAN_IF. */
static void assert_lan_route(const char *dst, const char *gw) {
  struct found_route f = find_route(dst);
  if (f.n != 1) fail_msg("%d routes to %s, wanted 1", f.n, dst);
  assert_string_equal(f.gw, gw);
  assert_int_equal(f.ifindex, (int)if_nametoindex(LAN_IF));
  assert_int_equal(f.protocol, RTPROT_BOOT);
  assert_int_equal(f.scope, RT_SCOPE_UNIVERSE);
}

/* While the tunnel is up its routes win; deleting them puts the laptop's
 * back, as they were. Adding one again saves nothing more: what it
 * replaces then is our own. */
static void test_twin_back_after_del(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  assert_int_equal(dev->nsaved, 2);
  assert_tun_route(ROUTE4);
  assert_tun_route(ROUTE6);
  ifinfo_run("ip route show " ROUTE4 " | grep -q 'dev " TEST_IF "'");
  ifinfo_run("ip -6 route show " ROUTE6 " | grep -q 'dev " TEST_IF "'");
  source_is(PEER4, ADDR4);
  source_is(PEER6, ADDR6);
  struct zt_prefix r4 = route(ROUTE4), r6 = route(ROUTE6);
  assert_ok(tun_add_route(dev, &r4, err, sizeof(err)));
  assert_ok(tun_add_route(dev, &r6, err, sizeof(err)));
  assert_int_equal(dev->nsaved, 2);

  assert_ok(tun_del_route(dev, &r4, err, sizeof(err)));
  assert_int_equal(dev->nsaved, 1);
  assert_lan_route(ROUTE4, LAN_GW);
  ifinfo_run("ip route show " ROUTE4 " | grep -q 'via " LAN_GW " dev " LAN_IF "'");
  source_is(PEER4, LAN_ADDR);
  assert_tun_route(ROUTE6); /* the other one stays replaced */

  assert_ok(tun_del_route(dev, &r6, err, sizeof(err)));
  assert_int_equal(dev->nsaved, 0);
  assert_lan_route(ROUTE6, LAN_GW6);
  source_is(PEER6, LAN_ADDR6);

  /* Nothing left to put back: closing leaves the LAN's routes alone. */
  tun_close(dev);
  assert_lan_route(ROUTE4, LAN_GW);
  assert_lan_route(ROUTE6, LAN_GW6);
}

/* Closing the device takes its routes away and puts the laptop's back. */
static void test_twin_back_after_close(void **state) {
  struct tun_dev *dev = state_dev(state);
  assert_tun_route(ROUTE4);
  assert_tun_route(ROUTE6);
  tun_close(dev);
  assert_int_equal(dev->nsaved, 0);
  assert_lan_route(ROUTE4, LAN_GW);
  assert_lan_route(ROUTE6, LAN_GW6);
  ifinfo_run("ip route show " ROUTE4 " | grep -q 'via " LAN_GW " dev " LAN_IF "'");
  ifinfo_run("ip -6 route show " ROUTE6 " | grep -q 'via " LAN_GW6 " dev " LAN_IF "'");
  source_is(PEER4, LAN_ADDR);
  source_is(PEER6, LAN_ADDR6);
  tun_close(dev); /* twice is harmless */
  assert_lan_route(ROUTE4, LAN_GW);
}

/* A laptop route that is back before ours goes (someone replaced ours) is
 * left as it is, and the saved copy forgotten. */
static void test_twin_already_back(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  ifinfo_run("ip route replace " ROUTE4 " via " LAN_GW " dev " LAN_IF " proto static");
  struct zt_prefix r4 = route(ROUTE4);
  /* ours is gone: the delete says so, the laptop's route stays */
  assert_int_equal(tun_del_route(dev, &r4, err, sizeof(err)), 0);
  assert_int_equal(dev->nsaved, 1);
  struct found_route f = find_route(ROUTE4);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.protocol, RTPROT_STATIC);
  assert_string_equal(f.gw, LAN_GW);
  tun_close(dev);
  assert_int_equal(dev->nsaved, 0);
  f = find_route(ROUTE4);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.protocol, RTPROT_STATIC);
  assert_lan_route(ROUTE6, LAN_GW6);
}

/* Routes to prefixes the laptop has no route to of its own put nothing
 * back: neither when deleted nor at close. */
static void test_no_twin_restores_nothing(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  assert_int_equal(dev->nsaved, 0);
  /* inside the LAN's route to SERVER_NET, but another prefix */
  struct zt_prefix net = route("203.0.113.0/25");
  assert_ok(tun_add_route(dev, &net, err, sizeof(err)));
  assert_int_equal(dev->nsaved, 0);
  assert_tun_route("203.0.113.0/25");
  assert_ok(tun_del_route(dev, &net, err, sizeof(err)));
  assert_no_route("203.0.113.0/25");
  assert_ok(tun_add_route(dev, &net, err, sizeof(err)));
  tun_close(dev);
  assert_no_route("203.0.113.0/25");
  assert_no_route(ROUTE4);
  assert_no_route(ROUTE6);
  struct found_route f = find_route(SERVER_NET);
  assert_int_equal(f.n, 1);
  assert_string_equal(f.gw, LAN_GW);
}

/* The LAN's own connected route (proto kernel, scope link, with its
 * preferred source) comes back as it was, after a delete and at close. */
static void test_twin_connected(void **state) {
  char err[256] = "";
  struct tun_dev *dev = state_dev(state);
  struct zt_prefix lan = route("192.0.2.0/24");
  for (int close_it = 0; close_it <= 1; close_it++) {
    assert_ok(tun_add_route(dev, &lan, err, sizeof(err)));
    assert_int_equal(dev->nsaved, 1);
    assert_tun_route("192.0.2.0/24");
    source_is("192.0.2.9", ADDR4);
    if (close_it)
      tun_close(dev);
    else
      assert_ok(tun_del_route(dev, &lan, err, sizeof(err)));
    assert_int_equal(dev->nsaved, 0);
    struct found_route f = find_route("192.0.2.0/24");
    if (f.n != 1) fail_msg("%d routes to 192.0.2.0/24, wanted 1", f.n);
    assert_string_equal(f.gw, "");
    assert_int_equal(f.ifindex, (int)if_nametoindex(LAN_IF));
    assert_int_equal(f.scope, RT_SCOPE_LINK);
    assert_int_equal(f.protocol, RTPROT_KERNEL);
    ifinfo_run("ip route show 192.0.2.0/24 | "
               "grep -q 'dev " LAN_IF " proto kernel scope link src " LAN_ADDR "'");
    source_is("192.0.2.9", LAN_ADDR);
  }
}

int main(void) {
  if (geteuid() != 0) {
    printf("test_tun: SKIP: needs root for a TUN device in its own network "
           "namespace\n");
    return 0;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    fprintf(stderr, "test_tun: unshare(CLONE_NEWNET): %s\n", strerror(errno));
    return 1;
  }
#define CONFIGURED(t) \
  cmocka_unit_test_setup_teardown(t, setup_configured, teardown_configured)
#define WITH_LAN(t) cmocka_unit_test_setup_teardown(t, setup_lan, teardown_lan)
#define WITH_TWINS(t) \
  cmocka_unit_test_setup_teardown(t, setup_twins, teardown_lan)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_rejects_long_name),
      cmocka_unit_test(test_close_zeroed_leaves_stdin),
      cmocka_unit_test(test_open_kernel_picks_name),
      CONFIGURED(test_open_device),
      CONFIGURED(test_mtu_and_up),
      CONFIGURED(test_addresses),
      CONFIGURED(test_address_bad_family),
      CONFIGURED(test_routes_pick_tun_source),
      CONFIGURED(test_del_route),
      CONFIGURED(test_udp_reaches_tun),
      CONFIGURED(test_icmp_echo_through_tun),
      CONFIGURED(test_close_removes_device),
      WITH_LAN(test_pin_via_gateway),
      WITH_LAN(test_pin_ipv6),
      WITH_LAN(test_pin_on_link),
      WITH_LAN(test_pin_moves),
      WITH_LAN(test_pin_takes_over_leftover),
      WITH_LAN(test_pin_gone_before_close),
      WITH_LAN(test_pin_refusals),
      WITH_LAN(test_pin_local_is_noop),
      WITH_TWINS(test_twin_back_after_del),
      WITH_TWINS(test_twin_back_after_close),
      WITH_TWINS(test_twin_already_back),
      WITH_LAN(test_no_twin_restores_nothing),
      WITH_LAN(test_twin_connected),
  };
#undef CONFIGURED
#undef WITH_LAN
#undef WITH_TWINS
  return cmocka_run_group_tests(tests, NULL, NULL);
}
