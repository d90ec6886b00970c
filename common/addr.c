#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t zt_ip_len(int family) {
  return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

int zt_ip_parse(const char *s, struct zt_ip *out) {
  memset(out, 0, sizeof(*out));
  if (inet_pton(AF_INET, s, out->addr) == 1) {
    out->family = AF_INET;
    return 1;
  }
  if (inet_pton(AF_INET6, s, out->addr) == 1) {
    out->family = AF_INET6;
    return 1;
  }
  return 0;
}

int zt_prefix_parse(const char *s, struct zt_prefix *out, const char **err) {
  static const char *const e_addr = "not an IPv4 or IPv6 address";
  static const char *const e_len = "prefix length out of range";
  static const char *const e_host = "host bits set after the prefix length";
  char buf[ZT_ADDR_STRLEN];
  const char *slash = strchr(s, '/');
  size_t alen = slash ? (size_t)(slash - s) : strlen(s);
  memset(out, 0, sizeof(*out));
  if (alen == 0 || alen >= sizeof(buf)) {
    *err = e_addr;
    return 0;
  }
  memcpy(buf, s, alen);
  buf[alen] = '\0';
  struct zt_ip ip;
  if (!zt_ip_parse(buf, &ip)) {
    *err = e_addr;
    return 0;
  }
  unsigned max = (unsigned)zt_ip_len(ip.family) * 8;
  unsigned len = max;
  if (slash) {
    const char *p = slash + 1;
    if (*p < '0' || *p > '9' || strlen(p) > 3) {
      *err = e_len;
      return 0;
    }
    char *end;
    unsigned long v = strtoul(p, &end, 10);
    if (*end != '\0' || v > max) {
      *err = e_len;
      return 0;
    }
    len = (unsigned)v;
  }
  out->family = ip.family;
  memcpy(out->addr, ip.addr, sizeof(out->addr));
  out->len = (uint8_t)len;
  for (unsigned bit = len; bit < max; bit++) {
    if (out->addr[bit / 8] & (0x80u >> (bit % 8))) {
      *err = e_host;
      return 0;
    }
  }
  return 1;
}

int zt_prefix_contains(const struct zt_prefix *p, const struct zt_ip *ip) {
  if (p->family != ip->family) return 0;
  unsigned full = p->len / 8, rest = p->len % 8;
  if (memcmp(p->addr, ip->addr, full) != 0) return 0;
  if (rest == 0) return 1;
  uint8_t mask = (uint8_t)(0xffu << (8 - rest));
  return (p->addr[full] & mask) == (ip->addr[full] & mask);
}

const char *zt_ip_format(const struct zt_ip *ip, char *buf) {
  if (!inet_ntop(ip->family, ip->addr, buf, ZT_ADDR_STRLEN))
    snprintf(buf, ZT_ADDR_STRLEN, "?");
  return buf;
}

const char *zt_prefix_format(const struct zt_prefix *p, char *buf) {
  char a[ZT_ADDR_STRLEN];
  if (!inet_ntop(p->family, p->addr, a, sizeof(a))) snprintf(a, sizeof(a), "?");
  snprintf(buf, ZT_ADDR_STRLEN, "%s/%u", a, p->len);
  return buf;
}

int zt_hostport_split(const char *s, char *host, size_t host_len,
                      uint16_t *port) {
  const char *hs, *he, *ps;
  if (s[0] == '[') {
    hs = s + 1;
    he = strchr(hs, ']');
    if (!he || he[1] != ':') return 0;
    ps = he + 2;
  } else {
    he = strrchr(s, ':');
    if (!he) return 0;
    hs = s;
    if (memchr(hs, ':', (size_t)(he - hs))) return 0; /* bare v6 needs [] */
    ps = he + 1;
  }
  size_t hl = (size_t)(he - hs);
  if (hl == 0 || hl >= host_len) return 0;
  if (*ps < '0' || *ps > '9' || strlen(ps) > 5) return 0;
  char *end;
  unsigned long v = strtoul(ps, &end, 10);
  if (*end != '\0' || v == 0 || v > 65535) return 0;
  memcpy(host, hs, hl);
  host[hl] = '\0';
  *port = (uint16_t)v;
  return 1;
}

const char *zt_sockaddr_format(const struct sockaddr *sa, char *buf, size_t len) {
  char a[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
    snprintf(buf, len, "%s:%u", a, ntohs(in->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
    snprintf(buf, len, "[%s]:%u", a, ntohs(in6->sin6_port));
  } else {
    snprintf(buf, len, "?");
  }
  return buf;
}
