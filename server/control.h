/* The concentrator's control socket (common/control.h has the protocol):
 * status, sessions, kill and reload for ztvpn-ctl. A unix stream socket at
 * control_socket, mode 0600, accepting only root peers; its connections are
 * served in the main loop, each bounded in size and time. */
#ifndef ZTVPN_SERVER_CONTROL_H
#define ZTVPN_SERVER_CONTROL_H

#include <stdint.h>

struct server;
struct ev_source;

/* control_open creates the socket when the configuration names one (an
 * absent setting leaves the concentrator without one). Returns 1, or 0
 * after logging why. */
int control_open(struct server *srv);

/* control_on_event handles an epoll event of kind EV_CONTROL (the listener)
 * or EV_CONTROL_CONN (a control connection). */
void control_on_event(struct server *srv, struct ev_source *src, uint32_t events);

/* control_close closes every control connection and removes the socket. */
void control_close(struct server *srv);

/* control_keep_file, after the fork of privilege separation: control_close
 * will close the socket but leave its file, which the privileged parent
 * created and removes (zt_ctlsock_unlink) with |*saved|, a copy of the
 * listener, when |saved| is not NULL. Without a control socket |*saved| is
 * zeroed. */
struct zt_ctl_listener;
void control_keep_file(struct server *srv, struct zt_ctl_listener *saved);

#endif
