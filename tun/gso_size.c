#include "gso_size.h"

#include <string.h>

#include "offload.h"

size_t zt_gso_seg_max(const uint8_t *pkt, size_t len) {
  struct virtio_net_hdr h;
  if (len <= ZT_VNET_HDR_LEN) return 0;
  memcpy(&h, pkt, sizeof(h));
  const uint8_t *ip = pkt + ZT_VNET_HDR_LEN;
  size_t iplen = len - ZT_VNET_HDR_LEN, l3, l4;
  uint8_t gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
  if (gso == VIRTIO_NET_HDR_GSO_NONE) return iplen;
  if (h.gso_size == 0) return 0;
  switch (ip[0] >> 4) {
    case 4: l3 = (size_t)(ip[0] & 0x0f) * 4; break;
    case 6: l3 = 40; break;
    default: return 0;
  }
  if (gso == VIRTIO_NET_HDR_GSO_UDP_L4) {
    l4 = 8;
  } else {
    if (iplen < l3 + 20) return 0;
    l4 = (size_t)(ip[l3 + 12] >> 4) * 4;
  }
  if (l3 < 20 || l4 < 8 || iplen < l3 + l4) return 0;
  return l3 + l4 + h.gso_size;
}
