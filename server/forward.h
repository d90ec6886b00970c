/* The packet path: TUN -> session by destination address, session -> TUN
 * only with the session's own source address. */
#ifndef ZTVPN_FORWARD_H
#define ZTVPN_FORWARD_H

#include <stddef.h>
#include <stdint.h>

struct dp;
struct server;
struct session;

/* forward_from_tun reads a batch of packets from |dp|'s TUN queue and
 * sends each to the session that holds its destination; the caller
 * flushes. */
void forward_from_tun(struct server *srv, struct dp *dp);
/* forward_one does that for one TUN read |pkt|; |handed| when another
 * worker read it (then |dp| owns its session). */
void forward_one(struct server *srv, struct dp *dp, const uint8_t *pkt, size_t len,
                 int handed);

/* TUN reads: a virtio_net_hdr and a super-packet of up to 64 KiB. */
#define FORWARD_TUN_READ (10 + 65535)
/* Segments of a super-packet for a session on the TLS stream: each at most
 * the largest tunnel MTU. */
#define FORWARD_SEG_STRIDE 9216

/* forward_check_from_client says whether the packet |pkt| from |s| may go
 * to the network: well-formed, from the session's own address, allowed by
 * its policy or part of a flow. A refused packet is counted. */
int forward_check_from_client(struct session *s, const uint8_t *pkt, size_t len,
                              uint64_t now);
/* forward_check_to_client is the same for a packet from the network. */
int forward_check_to_client(struct session *s, const uint8_t *pkt, size_t len,
                            uint64_t now);

/* forward_tun_write writes one checked packet to the TUN device (with an
 * empty virtio_net_hdr in front when the device has offloads). */
int forward_tun_write(struct server *srv, const uint8_t *pkt, size_t len);

/* forward_to_tun writes the DATA body |pkt| from |s| to the TUN device after
 * checking that it is a well-formed packet from the session's address. */
void forward_to_tun(struct session *s, const uint8_t *pkt, size_t len);

#endif
