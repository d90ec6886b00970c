/* Batched UDP I/O for the data channel: many datagrams per system call in
 * both directions (recvmmsg with UDP GRO, sendmmsg with UDP GSO), so the
 * packet path costs no system call per packet. */
#ifndef ZTVPN_UDPIO_H
#define ZTVPN_UDPIO_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct mmsghdr */
#endif
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Receive side: ZT_UDP_RX_MSGS buffers of ZT_UDP_RX_BUF bytes; with UDP GRO
 * one buffer holds a train of equal-sized datagrams from one sender. */
#define ZT_UDP_RX_MSGS 16
#define ZT_UDP_RX_BUF 65536

struct zt_udp_in {
  uint8_t *bufs; /* ZT_UDP_RX_MSGS * ZT_UDP_RX_BUF */
  struct mmsghdr msgs[ZT_UDP_RX_MSGS];
  struct iovec iov[ZT_UDP_RX_MSGS];
  struct sockaddr_storage from[ZT_UDP_RX_MSGS];
  uint8_t cmsg[ZT_UDP_RX_MSGS][64];
  int n;                       /* messages of the last zt_udp_in_recv */
};

int zt_udp_in_init(struct zt_udp_in *in);
void zt_udp_in_free(struct zt_udp_in *in);
/* zt_udp_in_recv reads up to ZT_UDP_RX_MSGS messages without blocking.
 * Returns how many (0 when none is waiting, -1 on an error in errno). */
int zt_udp_in_recv(struct zt_udp_in *in, int fd);
/* Message |i| of the last receive: its bytes, their length, the size of each
 * datagram in it (= len when GRO did not merge anything) and its sender. */
void zt_udp_in_msg(struct zt_udp_in *in, int i, uint8_t **data, size_t *len,
                   size_t *seg, const struct sockaddr **from, socklen_t *fromlen);

/* Send side: datagrams are written one after the other into an arena and
 * sent at flush; a run of equal-sized datagrams to one destination that
 * lies contiguous in the arena goes out as one UDP GSO send. */
#define ZT_UDP_TX_ARENA (1024 * 1024)
#define ZT_UDP_TX_MAX 1024 /* datagrams per flush */
#define ZT_UDP_GSO_MAX_SEGS 64
#define ZT_UDP_GSO_MAX_BYTES 65000

struct zt_udp_out {
  uint8_t *arena;
  size_t used;
  struct {
    uint32_t off, len;
    uint16_t dest;
  } ent[ZT_UDP_TX_MAX];
  size_t n;
  struct sockaddr_storage dest[ZT_UDP_TX_MAX];
  socklen_t destlen[ZT_UDP_TX_MAX];
  size_t ndest;
  int gso;                     /* UDP_SEGMENT works on this socket */
  uint64_t sent, errors;       /* datagrams */
};

int zt_udp_out_init(struct zt_udp_out *out);
void zt_udp_out_free(struct zt_udp_out *out);
/* zt_udp_out_room returns where the next datagrams may be written: |need|
 * bytes from there on are free, or NULL when the batch must be flushed
 * first. Datagrams committed in order from that point stay contiguous. */
uint8_t *zt_udp_out_room(struct zt_udp_out *out, size_t need);
/* zt_udp_out_commit queues the |len| bytes at |p| (inside the room just
 * returned, at or after the end of the previous datagram) for |to|. */
int zt_udp_out_commit(struct zt_udp_out *out, uint8_t *p, size_t len,
                      const struct sockaddr *to, socklen_t tolen);
/* zt_udp_out_flush sends everything queued on |fd|. Datagrams the kernel
 * refuses are counted in |errors| and dropped (UDP is lossy by nature; the
 * tunnel's TCP flows retransmit). Returns the number sent. */
size_t zt_udp_out_flush(struct zt_udp_out *out, int fd);

/* zt_udp_socket_tune sets what the data channel needs on |fd|: UDP GRO,
 * no fragmentation (DF; the tunnel MTU is chosen to fit) and large buffers.
 * Failing options are not fatal. */
void zt_udp_socket_tune(int fd, int family);

#endif
