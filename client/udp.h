/* The client's side of the UDP data channel: keys from the TLS exporter,
 * probes that tell whether UDP gets through both ways, PATH messages that
 * tell the server, and batched datagrams to and from the TUN device. */
#ifndef ZTVPN_CLIENT_UDP_H
#define ZTVPN_CLIENT_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "dgram.h"
#include "msg.h"
#include "offload.h"
#include "udpio.h"

#define CLIENT_UDP_PROBE_MS 1000 /* a probe at least this often */
#define CLIENT_UDP_DEAD_MS 3500  /* no answer for this long: use TLS */
#define CLIENT_KEYSET_GRACE_MS 10000
#define CLIENT_UDP_TUN_BATCH 2048

struct client_udp {
  int fd;                      /* -1 without a data channel */
  struct sockaddr_storage server;
  socklen_t server_len;
  struct zt_rx rx;             /* server -> client, current key set */
  struct zt_tx tx;             /* client -> server */
  struct zt_rx rx_prev;        /* the set before a re-authentication */
  uint64_t prev_until_ms;
  uint64_t rekey_ms;
  int up;                      /* authenticated answers arrive: send over UDP */
  int told;                    /* the path the server was last told, -1 none */
  uint64_t last_rx_ms;         /* last answer to a probe */
  uint64_t last_probe_ms;
  uint64_t last_auth_ms;       /* last authenticated datagram of any kind */
  uint64_t dgrams_in, dgrams_out, dropped, rekeys;
  unsigned mtu_cap;            /* largest tunnel MTU the path takes, 0 unknown */
  struct zt_udp_in in;
  struct zt_udp_out out;
  struct zt_gro_pkt pkts[CLIENT_UDP_TUN_BATCH];
  struct iovec iov[CLIENT_UDP_TUN_BATCH];
};

void client_udp_init(struct client_udp *u);
/* client_udp_start (re)keys the channel from |ssl| and the UDP attributes
 * of |a|, opening the socket to |server| (the address the TLS connection
 * reached, with the port of |a|) the first time. A previous key set stays
 * accepted for CLIENT_KEYSET_GRACE_MS. Returns 1, or 0 with the channel
 * closed (data then stays on the TLS stream). */
int client_udp_start(struct client_udp *u, SSL *ssl, const struct zt_admit *a,
                     const struct sockaddr *server, socklen_t server_len, uint64_t now_ms);
void client_udp_close(struct client_udp *u);

/* client_udp_tick sends a probe when one is due and updates |up|. Returns
 * the path the server should be told of (enum zt_path) when it changed,
 * else -1. */
int client_udp_tick(struct client_udp *u, uint64_t now_ms);

/* client_udp_send seals the packets of the TUN read |pkt| (|len| bytes, a
 * virtio_net_hdr first when |vnet|) that |keep| accepts, and queues them;
 * client_udp_flush sends what is queued. Returns how many were queued. */
size_t client_udp_send(struct client_udp *u, const uint8_t *pkt, size_t len, int vnet,
                       int (*keep)(void *arg, const uint8_t *ip, size_t len), void *arg,
                       uint64_t now_ms);
void client_udp_flush(struct client_udp *u);

/* client_udp_receive reads the waiting datagrams, hands each packet to
 * |deliver| for a check (1 = write it), and writes the accepted ones to
 * |tunfd| (merged into super-packets when |vnet|). Returns 1 when an
 * answer to a probe arrived, else 0; *path_changed as client_udp_tick. */
int client_udp_receive(struct client_udp *u, int tunfd, int vnet, int uso,
                       int (*deliver)(void *arg, const uint8_t *ip, size_t len), void *arg,
                       uint64_t now_ms, int *path_changed);

#endif
