/* The size of the packets a TUN super-packet splits into, known before the
 * split so that the data plane can lay the sealed datagrams out back to back
 * (one UDP GSO send for all of them). */
#ifndef ZTVPN_GSO_SIZE_H
#define ZTVPN_GSO_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* zt_gso_seg_max returns the length of the largest IP packet that
 * zt_gso_split makes of |pkt| (a virtio_net_hdr then an IP packet, |len|
 * bytes in all): the IP and TCP/UDP headers plus gso_size for a
 * super-packet, the packet's own length otherwise. 0 when the headers
 * cannot be read (zt_gso_split then refuses the packet too). */
size_t zt_gso_seg_max(const uint8_t *pkt, size_t len);

#endif
