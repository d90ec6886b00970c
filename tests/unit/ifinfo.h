/* Looking at a network interface through the kernel directly (ioctl), not
 * through tun/, for the tests that check what tun/ configured, and the
 * laptop's own network those tests build with `ip` for the pinned host
 * route to the server. Include after <cmocka.h>. */
#ifndef ZTVPN_TEST_IFINFO_H
#define ZTVPN_TEST_IFINFO_H

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"

/* ifinfo_get runs ioctl |req| (SIOCGIFMTU, SIOCGIFFLAGS, ...) on |ifname|. */
static inline struct ifreq ifinfo_get(const char *ifname, unsigned long req) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(s >= 0);
  if (ioctl(s, req, &ifr) != 0) fail_msg("ioctl %lu: %s", req, strerror(errno));
  close(s);
  return ifr;
}

/* ifinfo_mask_bits gives the prefix length of netmask |mask|. */
static inline unsigned ifinfo_mask_bits(const struct sockaddr *mask) {
  const uint8_t *b;
  size_t n;
  if (mask->sa_family == AF_INET) {
    b = (const uint8_t *)&((const struct sockaddr_in *)mask)->sin_addr;
    n = 4;
  } else {
    b = ((const struct sockaddr_in6 *)mask)->sin6_addr.s6_addr;
    n = 16;
  }
  unsigned bits = 0;
  for (size_t i = 0; i < n; i++) bits += (unsigned)__builtin_popcount(b[i]);
  return bits;
}

/* ifinfo_run runs a shell command line (ip, grep); the test fails if it
 * does. */
static inline void ifinfo_run(const char *cmd) {
  int rc = system(cmd);
  if (rc != 0) fail_msg("%s: exit status %d", cmd, rc);
}

/* The laptop's own network: LAN_IF (LAN_ADDR) with a gateway LAN_GW, behind
 * which the VPN servers SERVER and SERVER2 live. LAN_PEER is the other end
 * of the veth pair, up so that the link has a carrier. */
#define LAN_IF "zt-lan0"
#define LAN_PEER "zt-lan1"
#define LAN_ADDR "192.0.2.2"
#define LAN_GW "192.0.2.1"
#define SERVER "203.0.113.10"
#define SERVER2 "203.0.113.20"

/* IFINFO_LAN_UP is the command line that makes that network, without
 * routes: each test appends the ones via LAN_GW it needs. Deleting LAN_IF
 * deletes the pair, with its addresses and routes. */
#define IFINFO_LAN_UP                                            \
  "ip link add " LAN_IF " type veth peer name " LAN_PEER " && "  \
  "ip link set " LAN_PEER " up && ip link set " LAN_IF " up && " \
  "ip addr add " LAN_ADDR "/24 dev " LAN_IF

/* ifinfo_prefix builds an interface address with its prefix length
 * (zt_prefix_parse refuses host bits, which 100.64.0.1/24 has). */
static inline struct zt_prefix ifinfo_prefix(const char *ip, unsigned len) {
  struct zt_ip a;
  assert_true(zt_ip_parse(ip, &a));
  struct zt_prefix p;
  memset(&p, 0, sizeof(p));
  p.family = a.family;
  memcpy(p.addr, a.addr, sizeof(p.addr));
  p.len = (uint8_t)len;
  return p;
}

#endif
