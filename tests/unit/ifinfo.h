/* Looking at a network interface through the kernel directly (ioctl), not
 * through tun/, for the tests that check what tun/ configured. Include after
 * <cmocka.h>. */
#ifndef ZTVPN_TEST_IFINFO_H
#define ZTVPN_TEST_IFINFO_H

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

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

#endif
