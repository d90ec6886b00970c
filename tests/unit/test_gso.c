/* zt_gso_split (tun/gso.c) on super-packets built here the way the kernel
 * leaves them, judged by superpkt.h's naive checksum, never by tun/csum.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "offload.h"
#include "superpkt.h"

#define STRIDE 1600
#define HEADROOM 16

static uint8_t in[ZT_VNET_HDR_LEN + 70000];
static uint8_t out[ZT_GSO_MAX_SEGS * STRIDE];
static size_t seglen[ZT_GSO_MAX_SEGS];

/* check_split splits the super-packet of |s| and checks every segment
 * against it: count, lengths, ids, seq, flags, checksums, the headers that
 * must not change, and the payload put back together. */
static void check_split(const struct sp_spec *s) {
  size_t len = sp_build_super(s, in);
  const uint8_t *sip = in + ZT_VNET_HDR_LEN;
  size_t ihl = sp_iphlen(sip);
  size_t l4h = len - ZT_VNET_HDR_LEN - ihl - s->payload;
  size_t hdr = ihl + l4h;
  int n = zt_gso_split(in, len, out, STRIDE, HEADROOM, ZT_GSO_MAX_SEGS, seglen);
  size_t want = (s->payload + s->gso_size - 1) / s->gso_size;
  if (n < 0 || (size_t)n != want)
    fail_msg("ipv%d proto %u payload %zu gso %u: %d segments, want %zu",
             s->ipv, s->proto, s->payload, s->gso_size, n, want);
  size_t off = 0;
  for (size_t i = 0; i < want; i++) {
    const uint8_t *ip = out + i * STRIDE + HEADROOM;
    const uint8_t *l4 = ip + ihl;
    size_t n_i = i + 1 < want ? s->gso_size : s->payload - off;
    assert_int_equal(seglen[i], hdr + n_i);
    if (!sp_csum_ok(ip, seglen[i]))
      fail_msg("segment %zu of %zu (gso %u): bad checksum", i, want,
               s->gso_size);
    if (s->ipv == 4) {
      assert_int_equal(sp_get16(ip + 2), seglen[i]);
      assert_int_equal(sp_get16(ip + 4), (uint16_t)(s->ipid + i));
      assert_memory_equal(ip + 6, sip + 6, 4); /* flags, ttl, proto */
      assert_memory_equal(ip + 12, sip + 12, ihl - 12);
      assert_memory_equal(ip, sip, 2);
    } else {
      assert_int_equal(sp_get16(ip + 4), seglen[i] - 40);
      assert_memory_equal(ip, sip, 4);
      assert_memory_equal(ip + 6, sip + 6, 34);
    }
    const uint8_t *sl4 = sip + ihl;
    if (s->proto == IPPROTO_TCP) {
      assert_int_equal(sp_get32(l4 + 4), (uint32_t)(s->seq + off));
      uint8_t f = s->flags;
      if (i + 1 < want) f &= (uint8_t)~0x09; /* FIN, PSH: last only */
      if (i > 0) f &= (uint8_t)~0x80;        /* CWR: first only */
      assert_int_equal(l4[13], f);
      assert_memory_equal(l4, sl4, 4);
      assert_memory_equal(l4 + 8, sl4 + 8, 5);
      assert_memory_equal(l4 + 14, sl4 + 14, 2);
      assert_memory_equal(l4 + 18, sl4 + 18, l4h - 18);
    } else {
      assert_memory_equal(l4, sl4, 4);
      assert_int_equal(sp_get16(l4 + 4), 8 + n_i);
    }
    assert_memory_equal(ip + hdr, sip + hdr + off, n_i);
    off += n_i;
  }
  assert_int_equal(off, s->payload);
}

/* The payloads for gso size |g|: a whole number of segments, then one that
 * leaves a short last segment. */
static void both_ends(struct sp_spec s, size_t k) {
  s.payload = s.gso_size * k;
  check_split(&s);
  s.payload = s.gso_size * k + (s.gso_size > 1 ? s.gso_size / 3 + 1 : 0);
  if (s.gso_size == 1) s.payload = k - 1;
  check_split(&s);
}

static const uint16_t gso_sizes[] = {1, 536, 1348, 1400};

static size_t segs_for(uint16_t g, size_t hdr) {
  /* as many as fit the 64 KiB packet and ZT_GSO_MAX_SEGS, minus one for
   * the short-last variant */
  size_t k = (ZT_GSO_MAX_PKT - hdr) / g - 1;
  return k > ZT_GSO_MAX_SEGS - 1 ? ZT_GSO_MAX_SEGS - 1 : k;
}

static void test_tcp4(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(gso_sizes) / sizeof(gso_sizes[0]); i++) {
    struct sp_spec s = sp_tcp(4, 0, gso_sizes[i]);
    both_ends(s, 3);
    both_ends(s, segs_for(gso_sizes[i], 40));
    s.flags = 0x19; /* ACK|PSH|FIN */
    both_ends(s, 5);
  }
}

static void test_tcp4_options(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(gso_sizes) / sizeof(gso_sizes[0]); i++) {
    struct sp_spec s = sp_tcp(4, 0, gso_sizes[i]);
    s.ipopt = 8;
    s.ts = 1;
    s.tsval = 99;
    s.df = 0;
    s.ipid = 0xfffe; /* the id wraps */
    both_ends(s, 4);
    both_ends(s, segs_for(gso_sizes[i], 60));
  }
}

static void test_tcp6(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(gso_sizes) / sizeof(gso_sizes[0]); i++) {
    struct sp_spec s = sp_tcp(6, 0, gso_sizes[i]);
    s.ts = 1;
    both_ends(s, 2);
    both_ends(s, segs_for(gso_sizes[i], 72));
  }
}

static void test_tcp_ecn_cwr(void **state) {
  (void)state;
  for (int v = 4; v <= 6; v += 2) {
    struct sp_spec s = sp_tcp(v, 1348 * 5 + 10, 1348);
    s.ecn = 1;
    s.flags = 0x80 | 0x10 | 0x08; /* CWR|ACK|PSH */
    check_split(&s);
  }
}

static void test_udp(void **state) {
  (void)state;
  for (int v = 4; v <= 6; v += 2)
    for (size_t i = 0; i < sizeof(gso_sizes) / sizeof(gso_sizes[0]); i++) {
      struct sp_spec s = sp_udp(v, 0, gso_sizes[i]);
      both_ends(s, 3);
      both_ends(s, segs_for(gso_sizes[i], 48));
    }
}

/* One TCP or UDP packet whose checksum the kernel left to the device. */
static void test_none_needs_csum(void **state) {
  (void)state;
  struct sp_spec specs[] = {sp_tcp(4, 1000, 0), sp_udp(6, 333, 0),
                            sp_udp(4, 0, 0), sp_tcp(6, 1, 0)};
  for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
    size_t len = sp_build_super(&specs[i], in);
    assert_false(sp_csum_ok(in + ZT_VNET_HDR_LEN, len - ZT_VNET_HDR_LEN));
    assert_int_equal(zt_gso_split(in, len, out, STRIDE, HEADROOM, 1, seglen),
                     1);
    assert_int_equal(seglen[0], len - ZT_VNET_HDR_LEN);
    assert_true(sp_csum_ok(out + HEADROOM, seglen[0]));
    /* the same packet complete, as the sender would have sent it */
    uint8_t full[2000];
    size_t flen = sp_build(&specs[i], full, 0);
    assert_memory_equal(out + HEADROOM, full, flen);
  }
}

/* Without NEEDS_CSUM the packet is passed on as it is, whatever it holds. */
static void test_none_plain(void **state) {
  (void)state;
  memset(in, 0, ZT_VNET_HDR_LEN);
  for (size_t i = 0; i < 300; i++) in[ZT_VNET_HDR_LEN + i] = (uint8_t)(i * 13);
  assert_int_equal(zt_gso_split(in, ZT_VNET_HDR_LEN + 300, out, STRIDE, 0, 1,
                                seglen),
                   1);
  assert_int_equal(seglen[0], 300);
  assert_memory_equal(out, in + ZT_VNET_HDR_LEN, 300);
}

static struct virtio_net_hdr *vh(void) { return (struct virtio_net_hdr *)in; }

static int split_len(size_t len) {
  return zt_gso_split(in, len, out, STRIDE, HEADROOM, ZT_GSO_MAX_SEGS, seglen);
}

static void test_malformed(void **state) {
  (void)state;
  struct sp_spec s4 = sp_tcp(4, 1348 * 4, 1348), s6 = sp_tcp(6, 5000, 1000);
  size_t len;
#define BAD(spec, mutation)                                  \
  do {                                                       \
    len = sp_build_super(&(spec), in);                       \
    assert_true(split_len(len) > 0); /* intact, it splits */ \
    mutation;                                                \
    assert_int_equal(split_len(len), -1);                    \
  } while (0)
  BAD(s4, vh()->hdr_len = (uint16_t)(len - ZT_VNET_HDR_LEN + 1));
  BAD(s4, vh()->csum_start = 60000);
  BAD(s4, vh()->csum_start = 24);
  BAD(s4, vh()->csum_start = 0);
  BAD(s4, vh()->csum_offset = 6);
  BAD(s6, vh()->csum_offset = 200);
  BAD(s4, vh()->gso_size = 0);
  BAD(s4, vh()->flags = 0);
  BAD(s4, vh()->gso_type = VIRTIO_NET_HDR_GSO_UDP);     /* UFO */
  BAD(s4, vh()->gso_type = VIRTIO_NET_HDR_GSO_TCPV6);   /* not IPv6 */
  BAD(s6, vh()->gso_type = VIRTIO_NET_HDR_GSO_TCPV4);
  BAD(s4, vh()->gso_type = VIRTIO_NET_HDR_GSO_UDP_L4);  /* not UDP */
  BAD(s4, vh()->gso_type = 0x42);
  BAD(s4, len = ZT_VNET_HDR_LEN + 19);                  /* truncated IPv4 */
  BAD(s4, len = ZT_VNET_HDR_LEN + 30);                  /* truncated TCP */
  BAD(s6, len = ZT_VNET_HDR_LEN + 39);                  /* truncated IPv6 */
  BAD(s4, len -= 1);                                    /* total length */
  BAD(s6, len += 1);                                    /* payload length */
  BAD(s4, in[ZT_VNET_HDR_LEN] = 0x44);                  /* IHL 16 bytes */
  BAD(s4, in[ZT_VNET_HDR_LEN + 6] |= 0x20);             /* MF: a fragment */
  BAD(s4, in[ZT_VNET_HDR_LEN + 32] = 0x40);             /* TCP offset 16 */
  /* a TCP header of 60 bytes in a packet of 50 */
  BAD(s4, in[ZT_VNET_HDR_LEN + 32] = 0xf0; in[ZT_VNET_HDR_LEN + 2] = 0;
      in[ZT_VNET_HDR_LEN + 3] = 50; len = ZT_VNET_HDR_LEN + 50);
  BAD(s4, len = 5);
  /* IPv6 with an extension header (hop-by-hop), GSO set */
  BAD(s6, in[ZT_VNET_HDR_LEN + 6] = 0);
  /* too many segments for |max|, or for the room in a slot */
  len = sp_build_super(&s4, in);
  assert_int_equal(zt_gso_split(in, len, out, STRIDE, HEADROOM, 3, seglen), -1);
  assert_int_equal(zt_gso_split(in, len, out, STRIDE, HEADROOM, 4, seglen), 4);
  assert_int_equal(zt_gso_split(in, len, out, 1348 + 40 + HEADROOM - 1,
                                HEADROOM, 4, seglen), -1);
  assert_int_equal(zt_gso_split(in, len, out, 1348 + 40 + HEADROOM, HEADROOM,
                                4, seglen), 4);
  assert_int_equal(zt_gso_split(in, len, out, HEADROOM, HEADROOM, 4, seglen),
                   -1);
  /* ECN is a TCP matter */
  struct sp_spec u = sp_udp(4, 3000, 1000);
  u.ecn = 1;
  len = sp_build_super(&u, in);
  assert_int_equal(split_len(len), -1);
  /* a GSO packet with no payload */
  struct sp_spec e = sp_tcp(4, 0, 1000);
  len = sp_build_super(&e, in);
  assert_int_equal(split_len(len), -1);
  /* GSO_NONE with the checksum place outside the packet */
  struct sp_spec one = sp_udp(4, 100, 0);
  BAD(one, vh()->csum_offset = 200);
  BAD(one, vh()->csum_start = 10);
  BAD(one, in[ZT_VNET_HDR_LEN] = 0x15); /* IP version 1 */
  BAD(one, len = ZT_VNET_HDR_LEN);
  len = sp_build_super(&one, in);
  assert_int_equal(zt_gso_split(in, len, out, 100, 0, 1, seglen), -1);
#undef BAD
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tcp4),
      cmocka_unit_test(test_tcp4_options),
      cmocka_unit_test(test_tcp6),
      cmocka_unit_test(test_tcp_ecn_cwr),
      cmocka_unit_test(test_udp),
      cmocka_unit_test(test_none_needs_csum),
      cmocka_unit_test(test_none_plain),
      cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
