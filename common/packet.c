#include "packet.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bytestring.h>

/* A longer chain of IPv6 extension headers is not walked: the packet then
 * counts as having no transport header, so only "any protocol" rules match
 * it, and the work per packet stays bounded. */
#define PKT_MAX_EXT_HEADERS 8

#define TCP_MIN_LEN 14    /* ports, sequence, acknowledgement, offset, flags */
#define UDP_MIN_LEN 8     /* the whole UDP header */
#define ICMP_MIN_LEN 4    /* type, code, checksum */
#define ICMP_ECHO_LEN 8   /* ... identifier, sequence */
#define ICMP_HDR_LEN 8    /* what an ICMP error puts before the quoted packet */
#define QUOTE_PORTS_LEN 4 /* an error quotes at least 8 transport bytes */

#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV6_FRAG_OFFSET_SHIFT 3

static int is_echo(int family, uint8_t type) {
  if (family == AF_INET) return type == 8 || type == 0;
  return type == 128 || type == 129;
}

static int is_icmp_error(int family, uint8_t type) {
  if (family == AF_INET) return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
  return type >= 1 && type <= 4;
}

/* parse_transport reads the start of the transport header in |cbs| into
 * |l4| (whose proto is set). |quoted| says the header is quoted by an ICMP
 * error, which guarantees only 8 bytes: ports then need only 4. Too few bytes
 * leave has_ports / has_icmp at 0. */
static void parse_transport(CBS cbs, int family, int quoted, struct zt_l4 *l4) {
  if (l4->proto == IPPROTO_TCP || l4->proto == IPPROTO_UDP) {
    uint16_t sport, dport;
    uint8_t flags;
    size_t need = quoted ? QUOTE_PORTS_LEN : l4->proto == IPPROTO_TCP ? TCP_MIN_LEN : UDP_MIN_LEN;
    if (CBS_len(&cbs) < need || !CBS_get_u16(&cbs, &sport) || !CBS_get_u16(&cbs, &dport))
      return;
    /* sequence, acknowledgement, data offset, then the flags, which a quote
     * may cut off */
    if (l4->proto != IPPROTO_TCP || !CBS_skip(&cbs, 9) || !CBS_get_u8(&cbs, &flags)) flags = 0;
    l4->has_ports = 1;
    l4->sport = sport;
    l4->dport = dport;
    l4->tcp_flags = flags;
    return;
  }
  if (l4->proto == (family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
    uint8_t type, code;
    uint16_t id;
    int has_id = CBS_len(&cbs) >= ICMP_ECHO_LEN;
    if (CBS_len(&cbs) < ICMP_MIN_LEN || !CBS_get_u8(&cbs, &type) || !CBS_get_u8(&cbs, &code))
      return;
    l4->has_icmp = 1;
    l4->icmp_type = type;
    l4->icmp_code = code;
    /* checksum, then the identifier */
    if (has_id && is_echo(family, type) && CBS_skip(&cbs, 2) && CBS_get_u16(&cbs, &id))
      l4->icmp_id = id;
  }
}

/* walk_ipv6_ext follows the extension headers in |cbs| from next header
 * |nh| to the upper-layer header, leaving |cbs| at it. Returns 1 when the
 * transport header may follow, or 0 when it cannot be reached (a non-first
 * fragment, a truncated or too long chain); |*proto| is the last next header
 * value read either way (AH, ESP and unknown values end the walk there). */
static int walk_ipv6_ext(CBS *cbs, uint8_t nh, uint8_t *proto) {
  for (int n = 0;; n++) {
    uint8_t hdrlen;
    uint16_t frag;
    *proto = nh;
    if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS &&
        nh != IPPROTO_FRAGMENT)
      return 1;
    if (n == PKT_MAX_EXT_HEADERS) return 0;
    if (nh == IPPROTO_FRAGMENT) {
      /* next header, reserved, offset and flags, identification */
      if (!CBS_get_u8(cbs, &nh) || !CBS_skip(cbs, 1) || !CBS_get_u16(cbs, &frag) ||
          !CBS_skip(cbs, 4))
        return 0;
      if (frag >> IPV6_FRAG_OFFSET_SHIFT != 0) {
        *proto = nh;
        return 0;
      }
    } else {
      /* next header, length in 8-byte units after the first 8 */
      if (!CBS_get_u8(cbs, &nh) || !CBS_get_u8(cbs, &hdrlen) ||
          !CBS_skip(cbs, (size_t)hdrlen * 8 + 6))
        return 0;
    }
  }
}

/* parse_ipv4 reads an IPv4 header from |cbs| (the version/IHL byte is
 * already read) and leaves |cbs| at its payload. |check_len| is the total
 * length the packet must have, or 0 for a quoted header whose total length
 * describes more than is quoted. Returns 1, or 0 if malformed; |*has_l4|
 * says whether the payload starts with the transport header. */
static int parse_ipv4(CBS *cbs, uint8_t vihl, size_t check_len, struct zt_ip *src,
                      struct zt_ip *dst, uint8_t *proto, int *has_l4) {
  uint16_t total, frag;
  size_t ihl = (size_t)(vihl & 0x0f) * 4;
  /* tos, total length, id, fragment, ttl, protocol, checksum */
  if (ihl < 20 || !CBS_skip(cbs, 1) || !CBS_get_u16(cbs, &total) ||
      (check_len != 0 && total != check_len) || !CBS_skip(cbs, 2) ||
      !CBS_get_u16(cbs, &frag) || !CBS_skip(cbs, 1) || !CBS_get_u8(cbs, proto) ||
      !CBS_skip(cbs, 2) || !CBS_copy_bytes(cbs, src->addr, 4) ||
      !CBS_copy_bytes(cbs, dst->addr, 4) || !CBS_skip(cbs, ihl - 20))
    return 0;
  src->family = dst->family = AF_INET;
  *has_l4 = (frag & IPV4_FRAG_OFFSET_MASK) == 0;
  return 1;
}

/* parse_ipv6 is parse_ipv4 for IPv6: |check_len| is the whole packet's
 * length, or 0 for a quoted header. |*proto| is the fixed header's next
 * header; the extension headers are the caller's. */
static int parse_ipv6(CBS *cbs, size_t check_len, struct zt_ip *src, struct zt_ip *dst,
                      uint8_t *proto) {
  uint16_t payload;
  /* rest of the flow label, payload length, next header, hop limit */
  if (!CBS_skip(cbs, 3) || !CBS_get_u16(cbs, &payload) ||
      (check_len != 0 && (size_t)payload + 40 != check_len) || !CBS_get_u8(cbs, proto) ||
      !CBS_skip(cbs, 1) || !CBS_copy_bytes(cbs, src->addr, 16) ||
      !CBS_copy_bytes(cbs, dst->addr, 16))
    return 0;
  src->family = dst->family = AF_INET6;
  return 1;
}

/* parse_l4 fills |l4| from |payload|, what follows an IP header of
 * |family| whose protocol or first next header is |proto|, and leaves
 * |payload| at the transport header. |has_l4| is 0 for a non-first IPv4
 * fragment. */
static void parse_l4(CBS *payload, int family, uint8_t proto, int has_l4, int quoted,
                     struct zt_l4 *l4) {
  l4->proto = proto;
  if (family == AF_INET6) has_l4 = walk_ipv6_ext(payload, proto, &l4->proto);
  if (has_l4) parse_transport(*payload, family, quoted, l4);
}

/* parse_quote reads the packet quoted by an ICMP error (|cbs| is at the
 * ICMP header) into |out|'s inner fields. A quote that is too short or of
 * another family leaves them zero. */
static void parse_quote(CBS cbs, struct zt_pkt *out) {
  struct zt_ip src = {0}, dst = {0};
  uint8_t vihl, proto;
  int has_l4 = 1;
  if (!CBS_skip(&cbs, ICMP_HDR_LEN) || !CBS_get_u8(&cbs, &vihl)) return;
  if (out->src.family == AF_INET) {
    if (vihl >> 4 != 4 || !parse_ipv4(&cbs, vihl, 0, &src, &dst, &proto, &has_l4)) return;
  } else {
    if (vihl >> 4 != 6 || !parse_ipv6(&cbs, 0, &src, &dst, &proto)) return;
  }
  out->inner_src = src;
  out->inner_dst = dst;
  parse_l4(&cbs, out->src.family, proto, has_l4, 1, &out->inner);
}

int zt_pkt_parse(const uint8_t *data, size_t len, struct zt_pkt *out) {
  CBS cbs;
  uint8_t vihl;
  int ok = 0, has_l4 = 1;
  memset(out, 0, sizeof(*out));
  CBS_init(&cbs, data, len);
  if (!CBS_get_u8(&cbs, &vihl)) return 0;
  if (vihl >> 4 == 4)
    ok = parse_ipv4(&cbs, vihl, len, &out->src, &out->dst, &out->proto, &has_l4);
  else if (vihl >> 4 == 6)
    ok = parse_ipv6(&cbs, len, &out->src, &out->dst, &out->proto);
  if (!ok) {
    memset(out, 0, sizeof(*out));
    return 0;
  }
  parse_l4(&cbs, out->src.family, out->proto, has_l4, 0, &out->l4);
  if (out->l4.has_icmp && is_icmp_error(out->src.family, out->l4.icmp_type)) {
    out->is_icmp_error = 1;
    parse_quote(cbs, out);
  }
  return 1;
}
