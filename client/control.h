/* The client's control socket (common/control.h has the protocol): status
 * for ztvpn-ctl; every other command is answered "not supported by the
 * client". A unix stream socket at control_socket, mode 0600, root only,
 * served in the client's loop; its connections are bounded in number, size
 * and time. */
#ifndef ZTVPN_CLIENT_CONTROL_H
#define ZTVPN_CLIENT_CONTROL_H

#include <stdint.h>

struct client;

/* Epoll tags (data.u32) of the control socket: CLIENT_CTL_TAG for the
 * listener, the next CLIENT_CTL_MAX_CONNS for its connections. */
#define CLIENT_CTL_TAG 16
#define CLIENT_CTL_MAX_CONNS 4

/* client_control_open creates the socket when the configuration names one
 * (without the setting there is none). Returns 1, or 0 after logging why. */
int client_control_open(struct client *c);

/* client_control_owns says whether epoll tag |tag| is the control socket's. */
int client_control_owns(uint32_t tag);

/* client_control_on_event handles |events| for |tag|. */
void client_control_on_event(struct client *c, uint32_t tag, uint32_t events);

/* client_control_timeout returns |timeout_ms| shortened to the next control
 * connection deadline. */
int client_control_timeout(const struct client *c, int timeout_ms);

/* client_control_expire closes the connections past their deadline. */
void client_control_expire(struct client *c);

/* client_control_close closes every connection and removes the socket. */
void client_control_close(struct client *c);

#endif
