/* tun/ offloads on any bytes. zt_gso_split takes the input as one read()
 * of a vnet TUN, with several slot sizes and segment limits; whatever it
 * accepts must come out as segments that fit, with right checksums, and
 * zt_gro_coalesce of those segments must give back the payload, merged
 * runs with checksums right once completed as the kernel completes them.
 * Then the input, cut into length-prefixed pieces, goes through
 * zt_gro_coalesce as arbitrary packets: what it leaves alone stays as it
 * was. The checksum here is a naive bytewise one, not tun/csum.c. */
#include <string.h>

#include "fuzz.h"
#include "offload.h"

#define MAX_STRIDE 9000
#define MAX_OUT (ZT_GSO_MAX_SEGS * 1600)

struct config {
  size_t stride, headroom, max;
};

static const struct config configs[] = {
    {1600, 16, ZT_GSO_MAX_SEGS}, {600, 0, 64}, {MAX_STRIDE, 32, 8}};

static uint8_t out[MAX_OUT];
static uint8_t orig[MAX_OUT];
static uint8_t work[MAX_OUT];
static size_t seglen[ZT_GSO_MAX_SEGS];
static struct zt_gro_pkt pkts[ZT_GSO_MAX_SEGS];
static struct iovec iov[ZT_GSO_MAX_SEGS];

static uint64_t naive_add(uint64_t s, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) s += (i % 2 == 0) ? (uint64_t)b[i] << 8 : b[i];
  return s;
}

static uint16_t naive_fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}

/* hdr_of gives the IP header length, protocol and IP+L4 header length of a
 * packet zt_gso_split produced (so it is well-formed). */
static size_t hdr_of(const uint8_t *ip, size_t *ihl, uint8_t *proto) {
  int v4 = (ip[0] >> 4) == 4;
  *ihl = v4 ? (size_t)(ip[0] & 15) * 4 : 40;
  *proto = v4 ? ip[9] : ip[6];
  return *ihl + (*proto == 6 ? (size_t)(ip[*ihl + 12] >> 4) * 4 : 8);
}

static int csum_ok(const uint8_t *ip, size_t len) {
  size_t ihl;
  uint8_t proto;
  hdr_of(ip, &ihl, &proto);
  int v4 = (ip[0] >> 4) == 4;
  if (v4 && naive_fold(naive_add(0, ip, ihl)) != 0xffff) return 0;
  size_t l4len = len - ihl;
  uint64_t s = naive_add(0, ip + (v4 ? 12 : 8), v4 ? 8 : 32) + proto +
               (l4len >> 16) + (l4len & 0xffff);
  return naive_fold(s + naive_add(0, ip + ihl, l4len)) == 0xffff;
}

/* roundtrip: coalesce the |n| segments in |base| (slots of |c|) and check
 * the payload comes back whole, every output right. */
static void roundtrip(const uint8_t *ip0, size_t iplen, const struct config *c,
                      int n) {
  size_t ihl0;
  uint8_t proto0;
  size_t hdr0 = hdr_of(ip0, &ihl0, &proto0);
  uint8_t *end = out + c->stride * (size_t)n;
  for (int i = 0; i < n; i++) {
    pkts[i].data = out + (size_t)i * c->stride + c->headroom;
    pkts[i].len = seglen[i];
    pkts[i].cap = (size_t)(end - pkts[i].data);
  }
  /* coalesce needs ZT_VNET_HDR_LEN before each packet */
  if (c->headroom < ZT_VNET_HDR_LEN) return;
  size_t nout = zt_gro_coalesce(pkts, (size_t)n, 1, iov);
  FUZZ_CHECK(nout >= 1 && nout <= (size_t)n);
  size_t at = hdr0;
  for (size_t k = 0; k < nout; k++) {
    uint8_t *base = iov[k].iov_base;
    FUZZ_CHECK(base >= out && base + iov[k].iov_len <= end);
    FUZZ_CHECK(iov[k].iov_len > ZT_VNET_HDR_LEN);
    struct virtio_net_hdr h;
    memcpy(&h, base, sizeof(h));
    uint8_t *ip = base + ZT_VNET_HDR_LEN;
    size_t len = iov[k].iov_len - ZT_VNET_HDR_LEN, ihl;
    uint8_t proto;
    size_t hdr = hdr_of(ip, &ihl, &proto);
    FUZZ_CHECK(hdr <= len);
    if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
      FUZZ_CHECK(h.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);
      FUZZ_CHECK(h.csum_start == ihl && h.hdr_len == hdr);
      FUZZ_CHECK(h.gso_size > 0 && len - hdr > h.gso_size);
      size_t cat = (size_t)h.csum_start + h.csum_offset;
      FUZZ_CHECK(cat + 2 <= len);
      memcpy(work, ip, len);
      uint16_t v = (uint16_t)~naive_fold(naive_add(0, work + ihl, len - ihl));
      if (v == 0) v = 0xffff;
      work[cat] = (uint8_t)(v >> 8);
      work[cat + 1] = (uint8_t)v;
      FUZZ_CHECK(csum_ok(work, len));
    } else {
      FUZZ_CHECK(csum_ok(ip, len));
    }
    FUZZ_CHECK(at + (len - hdr) <= iplen);
    if (memcmp(ip + hdr, ip0 + at, len - hdr) != 0) {
      fprintf(stderr, "output %zu of %zu: payload differs\n", k, nout);
      abort();
    }
    at += len - hdr;
  }
  FUZZ_CHECK(at == iplen);
}

static void split(const uint8_t *data, size_t size, const struct config *c) {
  int n = zt_gso_split(data, size, out, c->stride, c->headroom, c->max, seglen);
  if (n < 0) {
    FUZZ_CHECK(n == -1);
    return;
  }
  FUZZ_CHECK(n >= 1 && (size_t)n <= c->max);
  for (int i = 0; i < n; i++)
    FUZZ_CHECK(seglen[i] > 0 && seglen[i] <= c->stride - c->headroom);
  struct virtio_net_hdr h;
  memcpy(&h, data, sizeof(h));
  const uint8_t *ip0 = data + ZT_VNET_HDR_LEN;
  size_t iplen = size - ZT_VNET_HDR_LEN;
  if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
    FUZZ_CHECK(n == 1 && seglen[0] == iplen);
    uint8_t *ip = out + c->headroom;
    /* only the checksum field may have changed */
    size_t at = (size_t)h.csum_start + h.csum_offset;
    for (size_t i = 0; i < iplen; i++)
      FUZZ_CHECK(ip[i] == ip0[i] ||
                 ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
                  (i == at || i == at + 1)));
    return;
  }
  roundtrip(ip0, iplen, c, n);
}

/* Arbitrary packets, [u16 length][bytes] each, through the coalescer. */
static void coalesce_raw(const uint8_t *data, size_t size) {
  if (size < 1) return;
  int uso = data[0] & 1;
  size_t off = 1, n = 0, w = 0;
  while (n < ZT_GSO_MAX_SEGS && size - off >= 2) {
    size_t len = (size_t)data[off] << 8 | data[off + 1];
    off += 2;
    if (len > size - off) len = size - off;
    if (len > 1600 - ZT_VNET_HDR_LEN) len = 1600 - ZT_VNET_HDR_LEN;
    w += ZT_VNET_HDR_LEN;
    memcpy(work + w, data + off, len);
    memcpy(orig + w, data + off, len);
    pkts[n].data = work + w;
    pkts[n].len = len;
    w += len;
    off += len;
    n++;
  }
  for (size_t i = 0; i < n; i++) pkts[i].cap = (size_t)(work + w - pkts[i].data);
  uint8_t *starts[ZT_GSO_MAX_SEGS];
  size_t lens[ZT_GSO_MAX_SEGS];
  for (size_t i = 0; i < n; i++) {
    starts[i] = pkts[i].data;
    lens[i] = pkts[i].len;
  }
  size_t nout = zt_gro_coalesce(pkts, n, uso, iov);
  FUZZ_CHECK(nout <= n && (n == 0 || nout >= 1));
  size_t next = 0; /* the input packet the next output must start at */
  for (size_t k = 0; k < nout; k++) {
    uint8_t *ip = (uint8_t *)iov[k].iov_base + ZT_VNET_HDR_LEN;
    while (next < n && starts[next] != ip) next++;
    FUZZ_CHECK(next < n);
    FUZZ_CHECK(ip + iov[k].iov_len - ZT_VNET_HDR_LEN <= work + w);
    struct virtio_net_hdr h;
    memcpy(&h, iov[k].iov_base, sizeof(h));
    if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
      FUZZ_CHECK(iov[k].iov_len - ZT_VNET_HDR_LEN == lens[next]);
      FUZZ_CHECK(memcmp(ip, orig + (ip - work), lens[next]) == 0);
    }
    next++;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++)
    split(data, size, &configs[i]);
  coalesce_raw(data, size);
  return 0;
}
