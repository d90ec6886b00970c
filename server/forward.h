/* The packet path: TUN -> session by destination address, session -> TUN
 * only with the session's own source address. */
#ifndef ZTVPN_FORWARD_H
#define ZTVPN_FORWARD_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct session;

/* forward_from_tun reads a batch of packets from the TUN device and queues
 * each on the session that holds its destination; the caller flushes. */
void forward_from_tun(struct server *srv);

/* forward_to_tun writes the DATA body |pkt| from |s| to the TUN device after
 * checking that it is a well-formed packet from the session's address. */
void forward_to_tun(struct session *s, const uint8_t *pkt, size_t len);

#endif
