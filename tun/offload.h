/* TUN offloads: the data plane reads TCP and UDP super-packets (up to 64 KiB,
 * one virtio_net_hdr in front) from a TUN opened with IFF_VNET_HDR, splits
 * them itself into MTU-sized IP packets (gso.c), each sealed into one UDP
 * datagram, and on the way back merges consecutive segments of one flow into
 * a super-packet for one TUN write (gro.c). csum.c holds the internet
 * checksum both need. The vnet header's 16-bit fields are in host byte order:
 * the legacy virtio layout TUN uses unless TUNSETVNETLE says otherwise. */
#ifndef ZTVPN_OFFLOAD_H
#define ZTVPN_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Debian 12's Linux 6.1 headers predate USO (kernel 6.2). */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define ZT_VNET_HDR_LEN 10 /* sizeof(struct virtio_net_hdr) */
#define ZT_GSO_MAX_SEGS 128
/* The largest IP packet a super-packet can be (IPv4 total length and IPv6
 * payload length are 16 bits; no jumbograms). */
#define ZT_GSO_MAX_PKT 65535

/* zt_gso_split takes |pkt|, |len|: what one read() of a TUN with
 * IFF_VNET_HDR returned, a virtio_net_hdr and then an IP packet (for GSO, a
 * super-packet whose TCP/UDP checksum holds only the pseudo-header sum, as
 * the kernel leaves it). It writes each resulting IP packet, complete and
 * with every checksum correct (IPv4 header, TCP or UDP), to
 * out + i*stride + headroom and its length to seglen[i], and returns the
 * number of packets: 1 for a VIRTIO_NET_HDR_GSO_NONE packet (copied, its
 * L4 checksum completed at csum_start/csum_offset when
 * VIRTIO_NET_HDR_F_NEEDS_CSUM is set). It returns -1, having written
 * nothing usable, when the header or packet is malformed, or the result
 * would need more than |max| segments or more than stride - headroom bytes
 * for one of them.
 *
 * GSO types: TCPV4, TCPV6 (with VIRTIO_NET_HDR_GSO_ECN: CWR on the first
 * segment only) and UDP_L4 (USO: UDP length and checksum per segment). TCP
 * seq advances by the payload, FIN and PSH stay on the last segment only,
 * the IPv4 id increments per segment. hdr_len and csum_start are checked
 * against the IP and L4 headers parsed here (IPv4 with options, IPv6
 * without extension headers), never used blindly. */
int zt_gso_split(const uint8_t *pkt, size_t len, uint8_t *out, size_t stride,
                 size_t headroom, size_t max, size_t *seglen);

/* One packet to coalesce. |cap| counts the bytes usable from |data| on
 * (>= len); |data| has ZT_VNET_HDR_LEN writable bytes before it. */
struct zt_gro_pkt {
  uint8_t *data;
  size_t len;
  size_t cap;
};

/* zt_gro_coalesce takes |n| complete IP packets in arrival order and merges
 * each run of CONSECUTIVE packets that a receiver's GRO would merge into the
 * run's first packet, by appending payloads with memmove (a run only ever
 * consumes packets after its first one, so all packets may sit in one
 * contiguous buffer in arrival order). TCP (IPv4, IPv6): same addresses and
 * ports, same TOS/traffic class, TTL/hop limit, IPv4 flags and options, seq
 * following on, same ack and window, only ACK (PSH allowed on the last),
 * no TCP options but identical timestamps, equal payload sizes except a
 * smaller last one, at most 65535 bytes and the first packet's cap in all.
 * UDP only when |uso| is 1 (the device took TUN_F_USO4|USO6): same
 * addresses and ports, equal sizes except a smaller last one.
 *
 * It writes a virtio_net_hdr into the ZT_VNET_HDR_LEN bytes before each
 * output packet: for a merged one the GSO type, gso_size, hdr_len and
 * NEEDS_CSUM with csum_start/csum_offset, the L4 checksum field holding the
 * pseudo-header sum and the IPv4 header fixed up (total length, checksum);
 * a zeroed header for a packet left alone (its checksums are complete).
 * out[i] = {data - ZT_VNET_HDR_LEN, len + ZT_VNET_HDR_LEN}, ready for
 * write(). Returns the number of entries in |out| (<= n). A packet that is
 * not well-formed IP goes out unchanged on its own. */
size_t zt_gro_coalesce(struct zt_gro_pkt *pkts, size_t n, int uso,
                       struct iovec *out);

/* --- internet checksum (RFC 1071), csum.c --- */

/* zt_csum_add adds |len| bytes at |data| to the running one's-complement
 * sum |sum| (64-bit accumulator; any length, any alignment) and returns it.
 * Bytes are taken as big-endian 16-bit words from an even offset, so sums
 * of pieces add up only when every piece but the last has even length. */
uint64_t zt_csum_add(uint64_t sum, const void *data, size_t len);

/* zt_csum_fold folds a running sum into 16 bits (not complemented). */
uint16_t zt_csum_fold(uint64_t sum);

/* zt_csum_finish is ~fold(sum): the value for a checksum field, host order. */
uint16_t zt_csum_finish(uint64_t sum);

/* zt_csum_pseudo returns the running sum of the TCP/UDP pseudo-header:
 * addresses |src|, |dst| (4 bytes each for |ip_version| 4, else 16),
 * protocol |proto| and L4 length |l4len|. */
uint64_t zt_csum_pseudo(int ip_version, const uint8_t *src,
                        const uint8_t *dst, uint8_t proto, uint32_t l4len);

#endif
