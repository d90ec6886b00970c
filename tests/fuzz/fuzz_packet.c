/* IP packets from the tunnel: zt_pkt_parse on any bytes, and its answer
 * checked against the header fields read independently, and against the
 * invariants the policy and connection tracking rely on. */
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "packet.h"

static int is_error_type(int family, uint8_t type) {
  if (family == AF_INET) return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
  return type >= 1 && type <= 4;
}

static int is_echo_type(int family, uint8_t type) {
  if (family == AF_INET) return type == 0 || type == 8;
  return type == 128 || type == 129;
}

static int is_zero(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

/* What every zt_l4 of a packet of |family| must satisfy. */
static void check_l4(const struct zt_l4 *l4, int family) {
  uint8_t icmp = family == AF_INET ? 1 : 58;
  FUZZ_CHECK(l4->has_ports == 0 || l4->has_ports == 1);
  FUZZ_CHECK(l4->has_icmp == 0 || l4->has_icmp == 1);
  FUZZ_CHECK(!l4->has_ports || l4->proto == 6 || l4->proto == 17);
  FUZZ_CHECK(!l4->has_icmp || l4->proto == icmp);
  FUZZ_CHECK(!(l4->has_ports && l4->has_icmp));
  if (!l4->has_ports) FUZZ_CHECK(l4->sport == 0 && l4->dport == 0);
  FUZZ_CHECK(l4->tcp_flags == 0 || (l4->has_ports && l4->proto == 6));
  if (!l4->has_icmp) FUZZ_CHECK(l4->icmp_type == 0 && l4->icmp_code == 0);
  FUZZ_CHECK(l4->icmp_id == 0 || (l4->has_icmp && is_echo_type(family, l4->icmp_type)));
}

/* The transport facts of a header at |l4| (|n| bytes) that directly follows
 * the IP header, computed here from offsets. */
static void check_direct(const struct zt_pkt *p, const uint8_t *l4, size_t n) {
  uint8_t proto = p->l4.proto;
  int family = p->src.family;
  if (proto == 6 || proto == 17) {
    size_t need = proto == 6 ? 14 : 8;
    FUZZ_CHECK(p->l4.has_ports == (n >= need));
    if (n >= need) {
      FUZZ_CHECK(p->l4.sport == ((unsigned)l4[0] << 8 | l4[1]));
      FUZZ_CHECK(p->l4.dport == ((unsigned)l4[2] << 8 | l4[3]));
      FUZZ_CHECK(p->l4.tcp_flags == (proto == 6 ? l4[13] : 0));
    }
  } else if (proto == (family == AF_INET ? 1 : 58)) {
    FUZZ_CHECK(p->l4.has_icmp == (n >= 4));
    if (n >= 4) {
      FUZZ_CHECK(p->l4.icmp_type == l4[0] && p->l4.icmp_code == l4[1]);
      FUZZ_CHECK(p->is_icmp_error == is_error_type(family, l4[0]));
      if (n >= 8 && is_echo_type(family, l4[0]))
        FUZZ_CHECK(p->l4.icmp_id == ((unsigned)l4[4] << 8 | l4[5]));
      else
        FUZZ_CHECK(p->l4.icmp_id == 0);
    }
  } else {
    FUZZ_CHECK(!p->l4.has_ports && !p->l4.has_icmp);
  }
}

static void check(const uint8_t *copy, size_t size, const struct zt_pkt *p) {
  FUZZ_CHECK(size >= 20);
  if (copy[0] >> 4 == 4) {
    size_t ihl = (size_t)(copy[0] & 15) * 4;
    FUZZ_CHECK(ihl >= 20 && ihl <= size);
    FUZZ_CHECK(((size_t)copy[2] << 8 | copy[3]) == size);
    FUZZ_CHECK(p->src.family == AF_INET && p->dst.family == AF_INET);
    FUZZ_CHECK(p->proto == copy[9]);
    FUZZ_CHECK(memcmp(p->src.addr, copy + 12, 4) == 0 && memcmp(p->dst.addr, copy + 16, 4) == 0);
    FUZZ_CHECK(p->l4.proto == copy[9]);
    if ((((size_t)copy[6] << 8 | copy[7]) & 0x1fff) != 0)
      FUZZ_CHECK(!p->l4.has_ports && !p->l4.has_icmp && !p->is_icmp_error);
    else
      check_direct(p, copy + ihl, size - ihl);
  } else {
    FUZZ_CHECK(copy[0] >> 4 == 6 && size >= 40);
    FUZZ_CHECK(((size_t)copy[4] << 8 | copy[5]) + 40 == size);
    FUZZ_CHECK(p->src.family == AF_INET6 && p->dst.family == AF_INET6);
    FUZZ_CHECK(p->proto == copy[6]);
    FUZZ_CHECK(memcmp(p->src.addr, copy + 8, 16) == 0 && memcmp(p->dst.addr, copy + 24, 16) == 0);
    uint8_t nh = copy[6];
    int ext = nh == 0 || nh == 43 || nh == 44 || nh == 60;
    if (!ext) {
      FUZZ_CHECK(p->l4.proto == nh);
      check_direct(p, copy + 40, size - 40);
    }
  }
  int family = p->src.family;
  check_l4(&p->l4, family);
  check_l4(&p->inner, family);
  FUZZ_CHECK(p->is_icmp_error == 0 || p->is_icmp_error == 1);
  if (p->is_icmp_error) {
    FUZZ_CHECK(p->l4.has_icmp && is_error_type(family, p->l4.icmp_type));
    FUZZ_CHECK(p->l4.icmp_id == 0);
    FUZZ_CHECK(p->inner_src.family == 0 || p->inner_src.family == family);
    FUZZ_CHECK(p->inner_dst.family == p->inner_src.family);
    if (p->inner_src.family == 0) {
      FUZZ_CHECK(is_zero(&p->inner, sizeof(p->inner)));
      FUZZ_CHECK(is_zero(p->inner_src.addr, 16) && is_zero(p->inner_dst.addr, 16));
    } else if (family == AF_INET) {
      FUZZ_CHECK(is_zero(p->inner_src.addr + 4, 12) && is_zero(p->inner_dst.addr + 4, 12));
    }
  } else {
    /* no error, nothing quoted */
    FUZZ_CHECK(is_zero(&p->inner, sizeof(p->inner)));
    FUZZ_CHECK(is_zero(&p->inner_src, sizeof(p->inner_src)));
    FUZZ_CHECK(is_zero(&p->inner_dst, sizeof(p->inner_dst)));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct zt_pkt p;
  /* a private copy, so reads past |size| are caught by ASan exactly */
  uint8_t *copy = malloc(size ? size : 1);
  FUZZ_CHECK(copy != NULL);
  memcpy(copy, data, size);
  if (zt_pkt_parse(copy, size, &p)) {
    check(copy, size, &p);
  } else {
    FUZZ_CHECK(is_zero(&p, sizeof(p)));
  }
  free(copy);
  return 0;
}
