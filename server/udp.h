/* The concentrator's UDP data channel: one socket on udp_listen, key sets
 * found by the receiver index in O(1), datagrams read and written in
 * batches, and which path (UDP or the TLS stream) each session's data takes.
 * Nothing unauthenticated gets an answer or costs more than a lookup and
 * one AEAD open. */
#ifndef ZTVPN_SERVER_UDP_H
#define ZTVPN_SERVER_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dgram.h"
#include "msg.h"
#include "offload.h"
#include "dplane.h"
#include "udpio.h"

struct server;
struct session;

/* A client's UDP liveness: it probes at least every ZT_UDP_PROBE_MS, and
 * without an authenticated datagram for ZT_UDP_DEAD_MS the path is down. */
#define ZT_UDP_PROBE_MS 1000
#define ZT_UDP_DEAD_MS 3500
/* A key set replaced by a re-authentication is still accepted this long. */
#define ZT_KEYSET_GRACE_MS 10000

/* One key set of a session: derived from one TLS connection's exporter. */
struct dchan {
  struct session *s;
  uint32_t index;     /* ours: the client's datagrams carry it */
  struct zt_rx rx;    /* client -> server */
  struct zt_tx tx;    /* server -> client */
  uint64_t retire_ms; /* 0 while current; when a replaced set goes */
};

struct udp_plane {
  int family;
  int fds[DP_MAX_WORKERS]; /* one socket per data-plane thread */
  unsigned nfds;
  struct dchan **slots;    /* by index & UDP_SLOT_MASK */
  uint32_t nslots, hint;
};

/* udp_open binds udp_listen (before privileges are dropped): |n| sockets
 * with SO_REUSEPORT and a filter that steers each datagram to the socket
 * of the worker that owns its receiver index. Returns 1 or 0 after logging
 * why. */
int udp_open(struct server *srv, unsigned n);
void udp_close(struct server *srv);

/* udp_on_readable reads and handles the datagrams waiting on |dp|'s
 * socket. */
void udp_on_readable(struct server *srv, struct dp *dp);
/* udp_flush sends the datagrams |dp| queued in this batch. */
void udp_flush(struct server *srv, struct dp *dp);

/* udp_session_keys derives a new key set for |s| from its (new) TLS
 * connection and fills the UDP attributes of |a|; a set |s| had before
 * stays accepted for ZT_KEYSET_GRACE_MS. Returns 1 or 0. */
int udp_session_keys(struct session *s, struct zt_admit *a);
/* udp_session_end releases the key sets of |s|. */
void udp_session_end(struct session *s);
/* udp_session_tick updates the path of |s| (fallback to the TLS stream when
 * UDP went quiet) and retires a replaced key set. */
void udp_session_tick(struct session *s);
/* udp_session_on_path handles the client's PATH message. */
void udp_session_on_path(struct session *s, uint8_t path);

/* udp_session_sends says whether data for |s| goes over UDP now. */
int udp_session_sends(const struct session *s);

/* udp_send_super seals every packet of the TUN super-packet |pkt| (|len|
 * bytes, a virtio_net_hdr first when |vnet|) for |s| that the policy lets
 * through and queues the datagrams. */
void udp_send_super(struct dp *dp, struct session *s, const uint8_t *pkt, size_t len,
                    int vnet);

/* udp_counters_sum adds up the counters of every data-plane thread. */
void udp_counters_sum(const struct server *srv, struct udp_counters *out);

#endif
