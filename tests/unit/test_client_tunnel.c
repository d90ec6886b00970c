/* client/tunnel.c against the real kernel, in a private network namespace
 * (like test_tun.c): the first ADMIT creates the device with its addresses,
 * MTU and routes; a reconnection with the same parameters keeps the very
 * same device; different parameters rebuild it; tunnel_close removes it. A
 * full tunnel keeps the server outside through a pinned host route, on a
 * veth "LAN" with a gateway made for those tests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare, CLONE_NEWNET */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
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

#include "tunnel.h"

#define IF "zttun-cli0"

static struct client_tunnel tun;

static int setup(void **state) {
  (void)state;
  tunnel_init(&tun);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tunnel_close(&tun);
  return 0;
}

static struct zt_prefix host(const char *ip) {
  struct zt_ip a;
  struct zt_prefix p;
  if (!zt_ip_parse(ip, &a)) fail_msg("bad address %s", ip);
  memset(&p, 0, sizeof(p));
  p.family = a.family;
  memcpy(p.addr, a.addr, sizeof(p.addr));
  p.len = a.family == AF_INET ? 32 : 128;
  return p;
}

static struct zt_prefix route(const char *s) {
  struct zt_prefix p;
  const char *why = NULL;
  if (!zt_prefix_parse(s, &p, &why)) fail_msg("%s: %s", s, why);
  return p;
}

/* The ADMIT a client gets from a server with pool4, pool6 and two routes. */
static struct zt_admit admit(void) {
  struct zt_admit a;
  memset(&a, 0, sizeof(a));
  a.addr4 = host("100.64.0.2");
  a.has_addr6 = 1;
  a.addr6 = host("fd00:5a::2");
  a.mtu = 1400;
  a.keepalive = 10;
  a.session_id = 1;
  a.nroutes = 2;
  a.routes[0] = route("198.51.100.0/24");
  a.routes[1] = route("fd00:77::/64");
  a.ndns = 1;
  assert_true(zt_ip_parse("198.51.100.53", &a.dns[0]));
  return a;
}

static void apply_ok(const struct zt_admit *a) {
  char err[256] = "";
  if (!tunnel_apply(&tun, IF, a, NULL, err, sizeof(err))) fail_msg("tunnel_apply: %s", err);
}

/* --- what the kernel says --- */

/* count_addrs counts the non-link-local addresses of the family of
 * |want| on IF; |found| says whether |want| (with prefix length |len|) is
 * among them. */
static int count_addrs(const char *want_ip, unsigned len, int *found) {
  struct zt_ip want;
  struct ifaddrs *all;
  int n = 0;
  assert_true(zt_ip_parse(want_ip, &want));
  assert_int_equal(getifaddrs(&all), 0);
  *found = 0;
  for (struct ifaddrs *i = all; i != NULL; i = i->ifa_next) {
    if (!i->ifa_addr || strcmp(i->ifa_name, IF) != 0 ||
        i->ifa_addr->sa_family != want.family)
      continue;
    const uint8_t *a = want.family == AF_INET
        ? (const uint8_t *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
        : ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr.s6_addr;
    if (want.family == AF_INET6 && a[0] == 0xfe && (a[1] & 0xc0) == 0x80) continue;
    n++;
    if (memcmp(a, want.addr, zt_ip_len(want.family)) == 0 &&
        ifinfo_mask_bits(i->ifa_netmask) == len)
      *found = 1;
  }
  freeifaddrs(all);
  return n;
}

/* assert_only_addr: |ip|/|len| is the one address of its family on IF. */
static void assert_only_addr(const char *ip, unsigned len) {
  int found;
  int n = count_addrs(ip, len, &found);
  if (n != 1 || !found) fail_msg("%s/%u: %d addresses, found %d", ip, len, n, found);
}

/* source_for connects a UDP socket towards |peer| and returns the source
 * address the kernel picked, or "" when there is no way there. */
static const char *source_for(const char *peer) {
  static char got[INET6_ADDRSTRLEN];
  struct zt_ip a;
  struct sockaddr_storage ss;
  socklen_t sl;
  assert_true(zt_ip_parse(peer, &a));
  memset(&ss, 0, sizeof(ss));
  if (a.family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(9);
    memcpy(&in->sin_addr, a.addr, 4);
    sl = sizeof(*in);
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(9);
    memcpy(&in6->sin6_addr, a.addr, 16);
    sl = sizeof(*in6);
  }
  int s = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(s >= 0);
  got[0] = '\0';
  if (connect(s, (struct sockaddr *)&ss, sl) == 0) {
    sl = sizeof(ss);
    assert_int_equal(getsockname(s, (struct sockaddr *)&ss, &sl), 0);
    const void *p = ss.ss_family == AF_INET
        ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
        : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    assert_non_null(inet_ntop(ss.ss_family, p, got, sizeof(got)));
  } else if (errno != ENETUNREACH && errno != EADDRNOTAVAIL) {
    /* no route, or (IPv6 without any address left) no source for one */
    fail_msg("connect %s: %s", peer, strerror(errno));
  }
  close(s);
  return got;
}

/* --- the laptop's own network, for full tunnels --- */

/* LAN_IF (ifinfo.h) with the laptop's default route via LAN_GW. */
static int setup_lan(void **state) {
  setup(state);
  ifinfo_run(IFINFO_LAN_UP " && ip route add default via " LAN_GW);
  return 0;
}

static int teardown_lan(void **state) {
  teardown(state);
  ifinfo_run("ip link del " LAN_IF);
  return 0;
}

/* The ADMIT of a full tunnel: default routes for both families. */
static struct zt_admit admit_full(void) {
  struct zt_admit a = admit();
  a.routes[0] = route("0.0.0.0/0");
  a.routes[1] = route("::/0");
  return a;
}

static struct zt_ip ip_of(const char *s) {
  struct zt_ip a;
  if (!zt_ip_parse(s, &a)) fail_msg("bad address %s", s);
  return a;
}

static void apply_to(const struct zt_admit *a, const char *server) {
  char err[256] = "";
  struct zt_ip ip = ip_of(server);
  if (!tunnel_apply(&tun, IF, a, &ip, err, sizeof(err)))
    fail_msg("tunnel_apply: %s", err);
}

/* The laptop's own default route, as it was before the tunnel. */
#define LAPTOP_DEFAULT_IS_THERE \
  "ip route show default | grep -qx 'default via " LAN_GW " dev " LAN_IF " '"
#define PINNED(ip) \
  "ip route show " ip "/32 | grep -qx '" ip " via " LAN_GW " dev " LAN_IF " proto static '"
#define NO_ROUTE(dst) "test -z \"$(ip route show " dst ")\""

/* --- tests --- */

static void test_first_apply_creates(void **state) {
  (void)state;
  struct zt_admit a = admit();
  assert_int_equal(if_nametoindex(IF), 0);
  apply_ok(&a);
  assert_true(tun.dev.fd >= 0);
  assert_string_equal(tun.dev.name, IF);
  assert_true(tun.dev.ifindex > 0);
  assert_int_equal(tun.dev.ifindex, (int)if_nametoindex(IF));
  assert_int_equal(ifinfo_get(IF, SIOCGIFMTU).ifr_mtu, 1400);
  assert_true(ifinfo_get(IF, SIOCGIFFLAGS).ifr_flags & IFF_UP);
  assert_only_addr("100.64.0.2", 32);
  assert_only_addr("fd00:5a::2", 128);
  /* the routes lead into the tunnel, with the tunnel address as source */
  assert_string_equal(source_for("198.51.100.7"), "100.64.0.2");
  assert_string_equal(source_for("fd00:77::7"), "fd00:5a::2");
  /* and nothing else is routed in the fresh namespace */
  assert_string_equal(source_for("203.0.113.7"), "");
  assert_memory_equal(&tun.applied, &a, sizeof(a));
}

/* A reconnection brings the same device parameters (session id, keepalive
 * and DNS may differ): the device, its fd and its ifindex stay. */
static void test_same_again_keeps(void **state) {
  (void)state;
  struct zt_admit a = admit();
  apply_ok(&a);
  int ifindex = tun.dev.ifindex, fd = tun.dev.fd;
  struct zt_admit b = admit();
  b.session_id = 2;
  b.keepalive = 25;
  b.ndns = 0;
  apply_ok(&b);
  apply_ok(&a);
  assert_int_equal(tun.dev.ifindex, ifindex);
  assert_int_equal(tun.dev.fd, fd);
  assert_int_equal((int)if_nametoindex(IF), ifindex);
  assert_only_addr("100.64.0.2", 32);
  assert_only_addr("fd00:5a::2", 128);
  assert_string_equal(source_for("198.51.100.7"), "100.64.0.2");
}

/* Another address: the device is rebuilt, and the old address is gone. */
static void test_new_address_rebuilds(void **state) {
  (void)state;
  struct zt_admit a = admit();
  apply_ok(&a);
  int ifindex = tun.dev.ifindex;
  a.addr4 = host("100.64.0.3");
  apply_ok(&a);
  assert_int_not_equal(tun.dev.ifindex, ifindex);
  assert_int_equal(tun.dev.ifindex, (int)if_nametoindex(IF));
  assert_only_addr("100.64.0.3", 32);
  assert_string_equal(source_for("198.51.100.7"), "100.64.0.3");
  ifindex = tun.dev.ifindex;
  a.addr6 = host("fd00:5a::3");
  apply_ok(&a);
  assert_int_not_equal(tun.dev.ifindex, ifindex);
  assert_only_addr("fd00:5a::3", 128);
  assert_string_equal(source_for("fd00:77::7"), "fd00:5a::3");
  /* without IPv6 this time */
  ifindex = tun.dev.ifindex;
  a.has_addr6 = 0;
  apply_ok(&a);
  assert_int_not_equal(tun.dev.ifindex, ifindex);
  int found;
  assert_int_equal(count_addrs("fd00:5a::3", 128, &found), 0);
  assert_only_addr("100.64.0.3", 32);
}

static void test_new_routes_or_mtu_rebuild(void **state) {
  (void)state;
  struct zt_admit a = admit();
  apply_ok(&a);
  int ifindex = tun.dev.ifindex;
  a.routes[0] = route("203.0.113.0/24");
  apply_ok(&a);
  assert_int_not_equal(tun.dev.ifindex, ifindex);
  assert_string_equal(source_for("203.0.113.7"), "100.64.0.2");
  assert_string_equal(source_for("198.51.100.7"), "");
  assert_string_equal(source_for("fd00:77::7"), "fd00:5a::2");

  ifindex = tun.dev.ifindex;
  a.nroutes = 1; /* the IPv6 route is dropped */
  apply_ok(&a);
  assert_int_not_equal(tun.dev.ifindex, ifindex);
  assert_string_equal(source_for("fd00:77::7"), "");

  ifindex = tun.dev.ifindex;
  a.mtu = 1380;
  apply_ok(&a);
  assert_int_not_equal(tun.dev.ifindex, ifindex);
  assert_int_equal(ifinfo_get(IF, SIOCGIFMTU).ifr_mtu, 1380);
  assert_string_equal(source_for("203.0.113.7"), "100.64.0.2");
}

static void test_close_removes(void **state) {
  (void)state;
  struct zt_admit a = admit();
  apply_ok(&a);
  assert_true(if_nametoindex(IF) > 0);
  tunnel_close(&tun);
  assert_int_equal(tun.dev.fd, -1);
  assert_int_equal(if_nametoindex(IF), 0);
  assert_string_equal(source_for("198.51.100.7"), "");
  assert_string_equal(source_for("fd00:77::7"), "");
  tunnel_close(&tun); /* twice is harmless */
  /* and the next ADMIT creates it again */
  apply_ok(&a);
  assert_true(if_nametoindex(IF) > 0);
  assert_string_equal(source_for("198.51.100.7"), "100.64.0.2");
}

/* A configuration the kernel refuses leaves no half-made device behind. */
static void test_failure_leaves_nothing(void **state) {
  (void)state;
  char err[256] = "";
  struct zt_admit a = admit();
  apply_ok(&a);
  a.mtu = 10; /* below any device minimum */
  assert_int_equal(tunnel_apply(&tun, IF, &a, NULL, err, sizeof(err)), 0);
  assert_true(err[0] != '\0');
  assert_int_equal(tun.dev.fd, -1);
  assert_int_equal(if_nametoindex(IF), 0);
  assert_string_equal(source_for("198.51.100.7"), "");
  /* a name the kernel cannot take */
  a = admit();
  assert_int_equal(tunnel_apply(&tun, "zt-name-far-too-long", &a, NULL, err, sizeof(err)), 0);
  assert_int_equal(tun.dev.fd, -1);
  /* and a good one still works afterwards */
  apply_ok(&a);
  assert_only_addr("100.64.0.2", 32);
}

/* A full tunnel takes everything into the device except the connection to
 * the server, which keeps its way out through the laptop's gateway; the
 * laptop's own default route is overridden, not replaced, and everything is
 * as before once the tunnel closes. */
static void test_full_tunnel_pins_server(void **state) {
  (void)state;
  struct zt_admit a = admit_full();
  assert_string_equal(source_for("203.0.113.7"), LAN_ADDR);
  apply_to(&a, SERVER);
  assert_non_null(tun.dev.pinned);
  ifinfo_run(PINNED(SERVER));
  ifinfo_run("ip route show 0.0.0.0/1 | grep -q 'dev " IF " '");
  ifinfo_run("ip route show 128.0.0.0/1 | grep -q 'dev " IF " '");
  ifinfo_run("ip -6 route show ::/1 | grep -q 'dev " IF " '");
  ifinfo_run("ip -6 route show 8000::/1 | grep -q 'dev " IF " '");
  ifinfo_run(LAPTOP_DEFAULT_IS_THERE);
  /* the server outside, everything else inside */
  assert_string_equal(source_for(SERVER), LAN_ADDR);
  ifinfo_run("ip route get " SERVER " | grep -q 'via " LAN_GW " dev " LAN_IF " '");
  assert_string_equal(source_for("203.0.113.7"), "100.64.0.2");
  assert_string_equal(source_for("192.0.2.200"), LAN_ADDR); /* the LAN itself */
  assert_string_equal(source_for("fd00:99::1"), "fd00:5a::2");

  /* A reconnection to the same server keeps device and pin. */
  int ifindex = tun.dev.ifindex;
  a.session_id = 2;
  apply_to(&a, SERVER);
  assert_int_equal(tun.dev.ifindex, ifindex);
  ifinfo_run(PINNED(SERVER));

  tunnel_close(&tun);
  assert_null(tun.dev.pinned);
  ifinfo_run(NO_ROUTE(SERVER "/32"));
  ifinfo_run(NO_ROUTE("0.0.0.0/1"));
  ifinfo_run(LAPTOP_DEFAULT_IS_THERE);
  assert_string_equal(source_for("203.0.113.7"), LAN_ADDR);
  assert_string_equal(source_for(SERVER), LAN_ADDR);
}

/* Routes that do not contain the server need no pin. */
static void test_split_tunnel_no_pin(void **state) {
  (void)state;
  struct zt_admit a = admit();
  apply_to(&a, SERVER);
  assert_null(tun.dev.pinned);
  ifinfo_run(NO_ROUTE(SERVER "/32"));
  assert_string_equal(source_for("198.51.100.7"), "100.64.0.2");
  assert_string_equal(source_for(SERVER), LAN_ADDR);
  /* A split route that contains the server is pinned as well. */
  a.routes[0] = route("203.0.113.0/24");
  apply_to(&a, SERVER);
  ifinfo_run(PINNED(SERVER));
  assert_string_equal(source_for(SERVER), LAN_ADDR);
  assert_string_equal(source_for("203.0.113.7"), "100.64.0.2");
}

/* Another server address (a name that resolves elsewhere now): the device
 * is rebuilt and the pin moves with it. */
static void test_new_server_moves_pin(void **state) {
  (void)state;
  struct zt_admit a = admit_full();
  apply_to(&a, SERVER);
  int ifindex = tun.dev.ifindex;
  apply_to(&a, SERVER2);
  assert_int_not_equal(tun.dev.ifindex, ifindex);
  ifinfo_run(NO_ROUTE(SERVER "/32"));
  ifinfo_run(PINNED(SERVER2));
  assert_string_equal(source_for(SERVER2), LAN_ADDR);
  assert_string_equal(source_for(SERVER), "100.64.0.2");
  /* and without a known server address nothing is pinned */
  char err[256] = "";
  assert_int_equal(tunnel_apply(&tun, IF, &a, NULL, err, sizeof(err)), 1);
  ifinfo_run(NO_ROUTE(SERVER2 "/32"));
}

/* A server the laptop has no route to cannot be pinned: the tunnel is not
 * set up (rather than set up to swallow its own connection). */
static void test_unpinnable_server_fails(void **state) {
  (void)state;
  char err[256] = "";
  struct zt_admit a = admit_full();
  struct zt_ip server = ip_of("fd00:99::1"); /* no IPv6 route on the LAN */
  assert_int_equal(tunnel_apply(&tun, IF, &a, &server, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "pin the route to the server fd00:99::1: no route"));
  assert_int_equal(tun.dev.fd, -1);
  assert_int_equal(if_nametoindex(IF), 0);
  ifinfo_run(NO_ROUTE("0.0.0.0/1"));
  ifinfo_run(LAPTOP_DEFAULT_IS_THERE);
  apply_to(&a, SERVER); /* a good one still works afterwards */
  ifinfo_run(PINNED(SERVER));
}

/* ROUTES after a reload: new routes in, old ones out, the device, its
 * addresses and the session untouched; a route that now contains the server
 * pins it first; /0 comes and goes as its two halves. */
static void test_update_routes(void **state) {
  (void)state;
  char err[256] = "";
  size_t added, removed;
  static struct zt_routes r;
  struct zt_admit a = admit();
  apply_to(&a, SERVER);
  int ifindex = tun.dev.ifindex;
  assert_string_equal(source_for("198.51.100.7"), "100.64.0.2");
  assert_string_equal(source_for("203.0.113.7"), LAN_ADDR);

  memset(&r, 0, sizeof(r));
  r.routes[r.n++] = route("203.0.113.128/25"); /* contains neither server */
  r.routes[r.n++] = route("fd00:77::/64");
  if (!tunnel_update_routes(&tun, &r, &added, &removed, err, sizeof(err)))
    fail_msg("tunnel_update_routes: %s", err);
  assert_int_equal(tun.dev.ifindex, ifindex);
  assert_int_equal(added, 1);   /* fd00:77::/64 stays */
  assert_int_equal(removed, 1); /* 198.51.100.0/24 goes */
  assert_null(tun.dev.pinned);
  assert_string_equal(source_for("203.0.113.200"), "100.64.0.2");
  assert_string_equal(source_for(SERVER), LAN_ADDR);
  assert_string_equal(source_for("198.51.100.7"), LAN_ADDR); /* via the default */
  assert_string_equal(source_for("fd00:77::1"), "fd00:5a::2");
  assert_only_addr("100.64.0.2", 32);

  /* the same again changes nothing */
  assert_int_equal(tunnel_update_routes(&tun, &r, &added, &removed, err, sizeof(err)), 1);
  assert_int_equal(added + removed, 0);

  /* a full tunnel now: the server gets pinned before the halves go in */
  memset(&r, 0, sizeof(r));
  r.routes[r.n++] = route("0.0.0.0/0");
  assert_int_equal(tunnel_update_routes(&tun, &r, &added, &removed, err, sizeof(err)), 1);
  assert_non_null(tun.dev.pinned);
  ifinfo_run(PINNED(SERVER));
  ifinfo_run("ip route show 0.0.0.0/1 | grep -q 'dev " IF " '");
  ifinfo_run("ip route show 128.0.0.0/1 | grep -q 'dev " IF " '");
  assert_string_equal(source_for(SERVER), LAN_ADDR);
  assert_string_equal(source_for("198.51.100.7"), "100.64.0.2");
  assert_string_equal(source_for("fd00:77::1"), ""); /* no IPv6 route left */

  /* and back to nothing: both halves gone, the laptop's own default intact */
  memset(&r, 0, sizeof(r));
  assert_int_equal(tunnel_update_routes(&tun, &r, &added, &removed, err, sizeof(err)), 1);
  assert_int_equal(removed, 1);
  ifinfo_run(NO_ROUTE("0.0.0.0/1"));
  ifinfo_run(NO_ROUTE("128.0.0.0/1"));
  ifinfo_run(LAPTOP_DEFAULT_IS_THERE);
  assert_string_equal(source_for("198.51.100.7"), LAN_ADDR);
  assert_int_equal(tun.dev.ifindex, ifindex);
}

int main(void) {
  if (geteuid() != 0) {
    printf("test_client_tunnel: SKIP: needs root for a TUN device in its own "
           "network namespace\n");
    return 0;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    fprintf(stderr, "test_client_tunnel: unshare(CLONE_NEWNET): %s\n", strerror(errno));
    return 1;
  }
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
#define L(t) cmocka_unit_test_setup_teardown(t, setup_lan, teardown_lan)
  const struct CMUnitTest tests[] = {
      T(test_first_apply_creates),   T(test_same_again_keeps),
      T(test_new_address_rebuilds),  T(test_new_routes_or_mtu_rebuild),
      T(test_close_removes),         T(test_failure_leaves_nothing),
      L(test_full_tunnel_pins_server), L(test_split_tunnel_no_pin),
      L(test_new_server_moves_pin),  L(test_unpinnable_server_fails),
      L(test_update_routes),
  };
#undef T
#undef L
  return cmocka_run_group_tests(tests, NULL, NULL);
}
