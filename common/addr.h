/* IP addresses, prefixes (CIDR) and host:port endpoints. */
#ifndef ZTVPN_ADDR_H
#define ZTVPN_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct zt_ip {
  int family; /* AF_INET or AF_INET6 */
  uint8_t addr[16];
};

struct zt_prefix {
  int family;
  uint8_t addr[16];
  uint8_t len; /* prefix length in bits */
};

#define ZT_ADDR_STRLEN 64 /* room for any formatted address or prefix */

/* zt_ip_parse parses a numeric IPv4 or IPv6 address. Returns 1 or 0. */
int zt_ip_parse(const char *s, struct zt_ip *out);

/* zt_prefix_parse parses "ADDR/LEN" or a bare address (as /32 or /128). It
 * fails if the length is out of range or host bits are set; |*err| then
 * points at a static description. Returns 1 or 0. */
int zt_prefix_parse(const char *s, struct zt_prefix *out, const char **err);

/* zt_prefix_contains says whether |ip| lies inside |p| (same family). */
int zt_prefix_contains(const struct zt_prefix *p, const struct zt_ip *ip);

/* zt_ip_format / zt_prefix_format write into |buf| (ZT_ADDR_STRLEN) and
 * return it. */
const char *zt_ip_format(const struct zt_ip *ip, char *buf);
const char *zt_prefix_format(const struct zt_prefix *p, char *buf);

/* zt_ip_len returns 4 or 16 for the family, 0 otherwise. */
size_t zt_ip_len(int family);

/* zt_hostport_split splits "host:port", "[v6]:port" into |host| (NUL
 * terminated, at most |host_len|-1 bytes) and |port|. Returns 1 or 0. */
int zt_hostport_split(const char *s, char *host, size_t host_len,
                      uint16_t *port);

/* zt_sockaddr_format writes "ADDR:PORT" or "[ADDR]:PORT" into |buf| of
 * |len| bytes and returns it. */
const char *zt_sockaddr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
