/* The client: connect, prove both identities, run the tunnel, reconnect
 * with capped exponential backoff; one epoll loop. */
#ifndef ZTVPN_CLIENT_H
#define ZTVPN_CLIENT_H

#include <stdint.h>
#include <time.h>

#include "config.h"
#include "conn.h"
#include "credentials.h"
#include "msg.h"
#include "tunnel.h"
#include "udp.h"

enum client_state {
  CS_WAIT,        /* between attempts (backoff) */
  CS_CONNECTING,  /* TCP connect in progress */
  CS_HANDSHAKE,   /* TLS handshake */
  CS_AWAIT_ADMIT, /* user proof sent; nothing configured yet */
  CS_ESTABLISHED, /* tunnel up */
};

struct client {
  const struct client_config *cfg;
  const struct client_creds *creds;
  int epfd, sig_fd;
  enum client_state state;
  int have_conn;
  struct zt_conn conn;
  struct client_tunnel tun;
  int tun_events;          /* epoll interest registered for the TUN fd */
  uint64_t now_ms, deadline_ms;
  uint64_t last_rx_ms, last_tx_ms;
  unsigned keepalive;
  unsigned backoff;        /* seconds before the next attempt */
  int done, exit_code;
  struct zt_admit admit;
  uint8_t *pkt;
  uint64_t drops;
  /* For the control socket's status (client/control.h). */
  struct client_control *ctl;   /* NULL without a control socket */
  time_t since;                 /* wall clock of the last admission */
  uint64_t pkts_in, pkts_out;   /* this session; in: from the server */
  unsigned reconnects;          /* connection attempts after the first */
  struct client_udp udp;        /* the UDP data channel (udp.h) */
  uint8_t *segs;                /* a super-packet split for the TLS stream */
  /* Re-authentication, make-before-break: a second connection that does
   * the full handshake and user proof again, then takes the session over
   * (RESUME). The tunnel keeps running on the first one meanwhile. */
  struct zt_conn rconn;
  enum client_state rstate;     /* CS_WAIT: none in progress */
  uint64_t reauth_at_ms;        /* when to start the next one, 0 = never */
  uint64_t rdeadline_ms;
  unsigned reauths;
};

/* client_run connects and serves until SIGTERM/SIGINT (returns 0) or a final
 * rejection (returns 1 after printing the reason). */
int client_run(struct client *c, const struct client_config *cfg,
               const struct client_creds *creds);

#endif
