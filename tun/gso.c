/* Segmentation of the super-packets a TUN with IFF_VNET_HDR and TSO/USO
 * offloads hands over: the kernel skipped its own segmentation because the
 * device claimed it could, so here each one becomes the MTU-sized IP
 * packets the kernel would have made (each then sealed into one datagram).
 * The vnet header is the kernel's, the packet the local sender's; neither
 * is trusted: every length and offset is checked against the IP and L4
 * headers parsed here, and every checksum of every segment is computed
 * afresh. */
#include "offload.h"

#include <netinet/in.h>
#include <string.h>

#include "l3l4.h"

/* gso_parse reads the IP and L4 headers of super-packet |ip|, |iplen| into
 * |p|, for GSO type |gso|. Returns 1, or 0 when they are malformed or not
 * what |gso| says (IPv6 extension headers included). */
static int gso_parse(const uint8_t *ip, size_t iplen, uint8_t gso,
                     struct zt_l3l4 *p) {
  if (!zt_l3l4_parse(ip, iplen, p)) return 0;
  if (p->ipv == 4 && (p->frag & ZT_IPV4_MF_OFFSET) != 0) return 0;
  switch (gso) {
    case VIRTIO_NET_HDR_GSO_TCPV4:
      return p->ipv == 4 && p->proto == IPPROTO_TCP;
    case VIRTIO_NET_HDR_GSO_TCPV6:
      return p->ipv == 6 && p->proto == IPPROTO_TCP;
    case VIRTIO_NET_HDR_GSO_UDP_L4:
      return p->proto == IPPROTO_UDP;
    default:
      return 0;
  }
}

/* gso_none copies a packet that needs no segmentation and, when the kernel
 * left its checksum to us (NEEDS_CSUM), completes it the way the kernel's
 * skb_checksum_help does: the one's-complement sum from csum_start to the
 * end, which already holds the pseudo-header sum, stored at csum_offset. */
static int gso_none(const struct virtio_net_hdr *h, const uint8_t *ip,
                    size_t iplen, uint8_t *dst, size_t room, size_t *seglen) {
  if (iplen == 0 || iplen > room) return -1;
  memcpy(dst, ip, iplen);
  if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    size_t min_ip = (ip[0] >> 4) == 4 ? ZT_IPV4_MIN_HDR
                  : (ip[0] >> 4) == 6 ? ZT_IPV6_HDR : 0;
    size_t start = h->csum_start, at = start + h->csum_offset;
    if (min_ip == 0 || start < min_ip || at + 2 > iplen) return -1;
    zt_put_be16(dst + at, zt_csum_finish(zt_csum_add(0, dst + start,
                                                     iplen - start)));
    /* An all-zero UDP checksum means "none": send its other form. */
    if (dst[at] == 0 && dst[at + 1] == 0) zt_put_be16(dst + at, 0xffff);
  }
  *seglen = iplen;
  return 1;
}

/* gso_segment finishes segment |i| of |nseg| at |seg|: headers copied from
 * the super-packet and |n| payload bytes already in place at
 * seg + p->hdrlen, starting at payload offset |off|. */
static void gso_segment(const struct zt_l3l4 *p, const uint8_t *ip,
                        uint8_t *seg, size_t i, size_t nseg, size_t off,
                        size_t n) {
  size_t l4len = p->l4hlen + n;
  uint8_t *l4 = seg + p->iphlen;
  if (p->ipv == 4) {
    zt_put_be16(seg + ZT_IPV4_TOTLEN, (uint16_t)(p->iphlen + l4len));
    zt_put_be16(seg + ZT_IPV4_ID, (uint16_t)(p->ipid + i));
    zt_put_be16(seg + ZT_IPV4_CSUM, 0);
    zt_put_be16(seg + ZT_IPV4_CSUM,
                zt_csum_finish(zt_csum_add(0, seg, p->iphlen)));
  } else {
    zt_put_be16(seg + ZT_IPV6_PLEN, (uint16_t)l4len);
  }
  uint64_t sum = zt_csum_pseudo(p->ipv, ip + p->src_at, ip + p->src_at + p->alen,
                                p->proto, (uint32_t)l4len);
  if (p->proto == IPPROTO_TCP) {
    uint8_t flags = l4[ZT_TCP_FLAGS];
    if (i + 1 < nseg) flags &= (uint8_t)~(ZT_TCP_FIN | ZT_TCP_PSH);
    if (i > 0) flags &= (uint8_t)~ZT_TCP_CWR;
    l4[ZT_TCP_FLAGS] = flags;
    zt_put_be32(l4 + ZT_TCP_SEQ, (uint32_t)(p->seq + off));
    zt_put_be16(l4 + ZT_TCP_CSUM, 0);
    sum = zt_csum_add(sum, l4, l4len);
    zt_put_be16(l4 + ZT_TCP_CSUM, zt_csum_finish(sum));
  } else {
    zt_put_be16(l4 + ZT_UDP_LEN, (uint16_t)l4len);
    zt_put_be16(l4 + ZT_UDP_CSUM, 0);
    sum = zt_csum_add(sum, l4, l4len);
    uint16_t c = zt_csum_finish(sum);
    zt_put_be16(l4 + ZT_UDP_CSUM, c == 0 ? 0xffff : c);
  }
}

int zt_gso_split(const uint8_t *pkt, size_t len, uint8_t *out, size_t stride,
                 size_t headroom, size_t max, size_t *seglen) {
  if (len < ZT_VNET_HDR_LEN || stride <= headroom || max == 0) return -1;
  struct virtio_net_hdr h;
  memcpy(&h, pkt, sizeof(h));
  const uint8_t *ip = pkt + ZT_VNET_HDR_LEN;
  size_t iplen = len - ZT_VNET_HDR_LEN;
  size_t room = stride - headroom;
  if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE)
    return gso_none(&h, ip, iplen, out + headroom, room, seglen);

  uint8_t gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
  if ((h.gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
      gso == VIRTIO_NET_HDR_GSO_UDP_L4)
    return -1;
  /* The kernel hands over a GSO packet only with its checksum partial. */
  if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) return -1;
  struct zt_l3l4 p;
  if (!gso_parse(ip, iplen, gso, &p)) return -1;
  size_t want_off = p.proto == IPPROTO_TCP ? ZT_TCP_CSUM : ZT_UDP_CSUM;
  if (h.csum_start != p.iphlen || h.csum_offset != want_off) return -1;
  /* hdr_len is a hint, the length of the kernel's linear part, which may
   * hold payload too: only a claim beyond the packet is wrong. */
  if (h.hdr_len > iplen) return -1;
  size_t payload = iplen - p.hdrlen;
  size_t gso_size = h.gso_size;
  if (gso_size == 0 || payload == 0) return -1;
  size_t nseg = (payload + gso_size - 1) / gso_size;
  size_t first = payload < gso_size ? payload : gso_size;
  if (nseg > max || p.hdrlen + first > room) return -1;

  for (size_t i = 0, off = 0; i < nseg; i++, off += gso_size) {
    size_t n = payload - off < gso_size ? payload - off : gso_size;
    uint8_t *seg = out + i * stride + headroom;
    memcpy(seg, ip, p.hdrlen);
    memcpy(seg + p.hdrlen, ip + p.hdrlen + off, n);
    gso_segment(&p, ip, seg, i, nseg, off, n);
    seglen[i] = p.hdrlen + n;
  }
  return (int)nseg;
}
