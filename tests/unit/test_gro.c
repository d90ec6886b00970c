/* zt_gro_coalesce (tun/gro.c): what it merges, what stops a run, and that a
 * merged packet is exactly the super-packet the sender's kernel would have
 * made, checked with superpkt.h's naive checksum. */
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
#define NPKT 160

static uint8_t in[ZT_VNET_HDR_LEN + 70000];
static uint8_t buf[NPKT * STRIDE];
static uint8_t copy[NPKT * STRIDE];
static size_t seglen[ZT_GSO_MAX_SEGS];
static struct zt_gro_pkt pkts[NPKT];
static struct iovec iov[NPKT];
static size_t npk;

/* slot puts packet |i| in one contiguous buffer in arrival order, as the
 * data plane does: each may grow to the end of the buffer. */
static void slot(size_t i, size_t len) {
  pkts[i].data = buf + i * STRIDE + HEADROOM;
  pkts[i].len = len;
  pkts[i].cap = (size_t)(buf + sizeof(buf) - pkts[i].data);
}

static void reset(void) {
  npk = 0;
  memset(buf, 0xee, sizeof(buf));
}

static void add(const struct sp_spec *s) {
  assert_true(npk < NPKT);
  slot(npk, 0);
  pkts[npk].len = sp_build(s, pkts[npk].data, 0);
  npk++;
}

static struct virtio_net_hdr vnet_of(const struct iovec *v) {
  struct virtio_net_hdr h;
  memcpy(&h, v->iov_base, sizeof(h));
  return h;
}

/* hdrlen: the IP and L4 header length of a well-formed packet, else 0 */
static size_t hdrlen(const uint8_t *ip, size_t len) {
  if (len < 40 || ((ip[0] >> 4) != 4 && (ip[0] >> 4) != 6)) return 0;
  size_t ihl = sp_iphlen(ip);
  if (ihl + 20 > len) return 0;
  uint8_t proto = (ip[0] >> 4) == 4 ? ip[9] : ip[6];
  return ihl + (proto == IPPROTO_TCP ? (size_t)(ip[ihl + 12] >> 4) * 4 : 8);
}

/* coalesce runs zt_gro_coalesce over the packets added and checks that it
 * made |nruns| outputs of counts[] packets each: lengths, the vnet header
 * (zero for one packet), payloads in order, and for a merged one every
 * checksum once completed the way the kernel completes it. */
static void coalesce(int uso, const size_t *counts, size_t nruns, int line) {
  size_t before[NPKT], payload[NPKT], hl[NPKT];
  memcpy(copy, buf, sizeof(buf));
  for (size_t i = 0; i < npk; i++) {
    before[i] = pkts[i].len;
    hl[i] = hdrlen(pkts[i].data, before[i]);
    payload[i] = hl[i] <= before[i] ? before[i] - hl[i] : 0;
  }
  size_t nout = zt_gro_coalesce(pkts, npk, uso, iov);
  if (nout != nruns)
    fail_msg("line %d: %zu outputs, want %zu", line, nout, nruns);
  size_t first = 0;
  for (size_t r = 0; r < nruns; r++) {
    size_t c = counts[r], total = before[first];
    for (size_t k = 1; k < c; k++) total += payload[first + k];
    const uint8_t *orig = copy + (pkts[first].data - buf);
    uint8_t *ip = (uint8_t *)iov[r].iov_base + ZT_VNET_HDR_LEN;
    if (ip != pkts[first].data) fail_msg("output %zu: not packet %zu", r, first);
    if (iov[r].iov_len != total + ZT_VNET_HDR_LEN)
      fail_msg("output %zu: %zu bytes, want %zu", r, iov[r].iov_len,
               total + ZT_VNET_HDR_LEN);
    struct virtio_net_hdr h = vnet_of(&iov[r]);
    if (c == 1) {
      static const uint8_t zero[ZT_VNET_HDR_LEN];
      assert_memory_equal(iov[r].iov_base, zero, ZT_VNET_HDR_LEN);
      assert_memory_equal(ip, orig, total); /* untouched */
    } else {
      assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
      assert_int_equal(h.gso_size, payload[first]);
      assert_int_equal(h.hdr_len, hl[first]);
      assert_int_equal(h.csum_start, sp_iphlen(ip));
      int v4 = (ip[0] >> 4) == 4;
      uint8_t proto = v4 ? ip[9] : ip[6];
      assert_int_equal(h.csum_offset, proto == IPPROTO_TCP ? 16 : 6);
      assert_int_equal(h.gso_type, proto == IPPROTO_UDP ? VIRTIO_NET_HDR_GSO_UDP_L4
                                   : v4 ? VIRTIO_NET_HDR_GSO_TCPV4
                                        : VIRTIO_NET_HDR_GSO_TCPV6);
      assert_int_equal(sp_get16(ip + (v4 ? 2 : 4)), v4 ? total : total - 40);
      /* the kernel's part: sum from csum_start, store at csum_offset */
      uint8_t *done = malloc(total);
      assert_non_null(done);
      memcpy(done, ip, total);
      sp_complete(&h, done, total);
      if (!sp_csum_ok(done, total))
        fail_msg("output %zu: wrong checksum once completed", r);
      free(done);
    }
    size_t at = hl[first];
    if (c == 1) {
      first++;
      continue;
    }
    for (size_t k = 0; k < c; k++) {
      const uint8_t *src = copy + (pkts[first + k].data - buf) + hl[first + k];
      if (memcmp(ip + at, src, payload[first + k]) != 0)
        fail_msg("output %zu: payload of packet %zu differs", r, first + k);
      at += payload[first + k];
    }
    first += c;
  }
  assert_int_equal(first, npk);
}

/* --- split then coalesce gives the super-packet back --- */

static void roundtrip(const struct sp_spec *s, int uso, int merges) {
  size_t len = sp_build_super(s, in);
  int n = zt_gso_split(in, len, buf, STRIDE, HEADROOM, ZT_GSO_MAX_SEGS, seglen);
  assert_true(n > 1);
  for (int i = 0; i < n; i++) slot((size_t)i, seglen[i]);
  memcpy(copy, buf, sizeof(buf));
  size_t nout = zt_gro_coalesce(pkts, (size_t)n, uso, iov);
  if (!merges) {
    assert_int_equal(nout, (size_t)n);
    for (int i = 0; i < n; i++) {
      assert_int_equal(iov[i].iov_len, seglen[i] + ZT_VNET_HDR_LEN);
      assert_memory_equal((uint8_t *)iov[i].iov_base + ZT_VNET_HDR_LEN,
                          copy + i * STRIDE + HEADROOM, seglen[i]);
    }
    return;
  }
  assert_int_equal(nout, 1);
  assert_ptr_equal(iov[0].iov_base, buf + HEADROOM - ZT_VNET_HDR_LEN);
  assert_int_equal(iov[0].iov_len, len);
  /* vnet header and packet, byte for byte what the sender's kernel made */
  assert_memory_equal(iov[0].iov_base, in, len);
}

static void test_roundtrip_tcp(void **state) {
  (void)state;
  struct sp_spec s = sp_tcp(4, 1348 * 30 + 5, 1348);
  roundtrip(&s, 0, 1);
  s.flags = 0x10; /* ACK alone */
  roundtrip(&s, 1, 1);
  s = sp_tcp(4, 536 * 100, 536);
  s.ipopt = 12;
  s.ts = 1;
  s.df = 0;
  s.ipid = 0xffc0;
  roundtrip(&s, 0, 1);
  s = sp_tcp(6, 1400 * 46, 1400);
  s.ts = 1;
  roundtrip(&s, 0, 1);
  s = sp_tcp(6, 2, 1);
  roundtrip(&s, 0, 1);
}

static void test_roundtrip_udp(void **state) {
  (void)state;
  for (int v = 4; v <= 6; v += 2) {
    struct sp_spec s = sp_udp(v, 1372 * 20 + 700, 1372);
    roundtrip(&s, 1, 1);
    roundtrip(&s, 0, 0); /* without USO the kernel takes no UDP super-packet */
    s = sp_udp(v, 1000 * 7, 1000);
    roundtrip(&s, 1, 1);
  }
}

/* --- runs --- */

static struct sp_spec seg(int v, size_t k, size_t size) {
  struct sp_spec s = sp_tcp(v, size, 0);
  s.flags = 0x10;
  s.seq += (uint32_t)(k * size);
  s.off = k * size;
  s.ipid = (uint16_t)(s.ipid + k);
  return s;
}

#define RUNS(uso, ...)                                                   \
  do {                                                                   \
    static const size_t want_[] = {__VA_ARGS__};                         \
    coalesce(uso, want_, sizeof(want_) / sizeof(want_[0]), __LINE__);    \
  } while (0)

static void test_interleaved(void **state) {
  (void)state;
  for (int v = 4; v <= 6; v += 2) {
    reset();
    struct sp_spec a[4], b[2];
    for (size_t k = 0; k < 4; k++) a[k] = seg(v, k, 1000);
    for (size_t k = 0; k < 2; k++) {
      b[k] = seg(v, k, 1000);
      b[k].sport = 40001;
      b[k].seed = 8;
    }
    add(&a[0]), add(&a[1]), add(&b[0]), add(&b[1]), add(&a[2]), add(&a[3]);
    RUNS(0, 2, 2, 2);
  }
}

/* each case: three or four segments of one stream, one of them changed */
static void test_stoppers(void **state) {
  (void)state;
  struct sp_spec s[6];
#define CASE(v, n, change, ...)                               \
  do {                                                        \
    reset();                                                  \
    for (size_t k = 0; k < (n); k++) s[k] = seg(v, k, 1000);  \
    change;                                                   \
    for (size_t k = 0; k < (n); k++) add(&s[k]);              \
    RUNS(0, __VA_ARGS__);                                     \
  } while (0)
  for (int v = 4; v <= 6; v += 2) {
    CASE(v, 4, (void)0, 4);
    CASE(v, 4, s[2] = s[3]; s[3] = seg(v, 4, 1000), 2, 2); /* a gap in seq */
    CASE(v, 4, s[1].flags = 0x50, 1, 1, 2);              /* ECE */
    CASE(v, 4, s[1].flags = 0x30, 1, 1, 2);              /* URG */
    CASE(v, 4, s[1].flags = 0x18, 2, 2);                 /* PSH ends a run */
    CASE(v, 3, s[2].flags = 0x11, 2, 1);                 /* FIN */
    CASE(v, 3, s[1].ack++; s[2].ack++, 1, 2);            /* ack */
    CASE(v, 3, s[1].win++, 1, 1, 1);                     /* window */
    CASE(v, 3, s[1].ttl--, 1, 1, 1);                     /* TTL */
    CASE(v, 3, s[1].tos = 0x10, 1, 1, 1);                /* TOS */
    CASE(v, 3, for (int k = 0; k < 3; k++) s[k].ts = 1, 3); /* same TS */
    CASE(v, 3, for (int k = 0; k < 3; k++) { s[k].ts = 1; s[k].tsval = (uint32_t)k; }, 1, 1, 1);
    CASE(v, 3, s[1].dport++, 1, 1, 1);                   /* port */
    CASE(v, 3, s[1].src_last++, 1, 1, 1);                /* address */
    /* a larger middle segment starts a run of its own */
    CASE(v, 3, s[1].payload = 1200; s[2].seq += 200; s[2].off += 200, 1, 2);
    /* a shorter one ends the run */
    CASE(v, 3, s[1].payload = 500; s[2].seq -= 500; s[2].off -= 500, 2, 1);
    /* a pure ACK in between */
    CASE(v, 5, s[2].payload = 0; for (int k = 3; k < 5; k++) { s[k].seq -= 1000; s[k].off -= 1000; }, 2, 1, 2);
  }
  /* IPv4 options must be the same; without DF the ids must follow on */
  CASE(4, 3, s[1].ipopt = 4, 1, 1, 1);
  CASE(4, 3, for (int k = 0; k < 3; k++) s[k].ipopt = 8, 3);
  CASE(4, 3, for (int k = 0; k < 3; k++) s[k].df = 0, 3);
  CASE(4, 3, for (int k = 0; k < 3; k++) s[k].df = 0; s[2].ipid += 5, 2, 1);
  CASE(4, 3, s[2].ipid += 5, 3); /* DF: ids do not matter */
  CASE(4, 3, s[1].df = 0; s[2].df = 0, 1, 2);
  /* the IPv6 flow label */
  CASE(6, 3, s[1].tos = 0, 3);
#undef CASE
}

static void test_limits(void **state) {
  (void)state;
  /* 65535 bytes at most: 46 segments of 1400 fit, the 47th does not */
  reset();
  for (size_t k = 0; k < 48; k++) {
    struct sp_spec s = seg(4, k, 1400);
    add(&s);
  }
  RUNS(0, 46, 2);
  /* ZT_GSO_MAX_SEGS at most */
  reset();
  for (size_t k = 0; k < ZT_GSO_MAX_SEGS + 2; k++) {
    struct sp_spec s = seg(6, k, 100);
    add(&s);
  }
  RUNS(0, ZT_GSO_MAX_SEGS, 2);
  /* the head's cap: one byte short stops the run */
  reset();
  for (size_t k = 0; k < 2; k++) {
    struct sp_spec s = seg(4, k, 1000);
    add(&s);
  }
  pkts[0].cap = pkts[0].len + 999;
  RUNS(0, 1, 1);
  pkts[0].len = 1040;
  pkts[0].cap = 2040;
  pkts[1].len = 1040;
  RUNS(0, 2);
}

static void test_udp_runs(void **state) {
  (void)state;
  for (int v = 4; v <= 6; v += 2) {
    reset();
    struct sp_spec s[5];
    for (size_t k = 0; k < 5; k++) {
      s[k] = sp_udp(v, 1200, 0);
      s[k].off = k * 1200;
      s[k].ipid = (uint16_t)(s[k].ipid + k);
    }
    s[3].payload = 1100; /* the last of a run may be shorter */
    s[4].sport++;
    for (size_t k = 0; k < 5; k++) add(&s[k]);
    RUNS(1, 4, 1);
    reset();
    for (size_t k = 0; k < 5; k++) add(&s[k]);
    RUNS(0, 1, 1, 1, 1, 1);
    reset();
    s[1].payload = 1300; /* larger in the middle */
    for (size_t k = 0; k < 4; k++) add(&s[k]);
    RUNS(1, 1, 2, 1); /* and the next, shorter one ends its run */
  }
}

/* What is not well-formed IP goes on alone and unchanged. */
static void test_passthrough(void **state) {
  (void)state;
  reset();
  struct sp_spec a = seg(4, 0, 1000), b = seg(4, 1, 1000);
  add(&a);
  add(&b);
  /* garbage */
  slot(npk, 77);
  for (size_t i = 0; i < 77; i++) pkts[npk].data[i] = (uint8_t)(i * 31 + 5);
  npk++;
  /* a truncated copy of the next segment, then the segment itself */
  struct sp_spec c = seg(4, 2, 1000);
  add(&c);
  pkts[npk - 1].len = 30;
  add(&c);
  /* a fragment */
  struct sp_spec d = seg(4, 2, 1000);
  add(&d);
  pkts[npk - 1].data[6] |= 0x20;
  /* empty */
  slot(npk, 0);
  npk++;
  /* an IPv6 packet whose length field lies */
  struct sp_spec e = seg(6, 0, 1000);
  add(&e);
  pkts[npk - 1].len -= 1;
  RUNS(0, 2, 1, 1, 1, 1, 1, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_tcp),
      cmocka_unit_test(test_roundtrip_udp),
      cmocka_unit_test(test_interleaved),
      cmocka_unit_test(test_stoppers),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_udp_runs),
      cmocka_unit_test(test_passthrough),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
