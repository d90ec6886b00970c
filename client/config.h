/* The client's configuration (client.conf). */
#ifndef ZTVPN_CLIENT_CONFIG_H
#define ZTVPN_CLIENT_CONFIG_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct client_config {
  char server_host[256];
  uint16_t server_port;
  char server_name[256];
  char server_ca[ZT_PATH_LEN];
  char device_cert[ZT_PATH_LEN], device_key[ZT_PATH_LEN];
  char user_cert[ZT_PATH_LEN], user_key[ZT_PATH_LEN];
  char interface[IFNAMSIZ];
  char control_socket[ZT_PATH_LEN];
  unsigned connect_timeout; /* seconds, TCP connect through admission */
  int udp;                  /* use the UDP data channel when offered */
  unsigned max_backoff;     /* seconds between reconnection attempts, at most */
  struct zt_conf_files files; /* every file named, for zt_conf_check_files */
};

/* client_config_load reads and validates |path|. On failure |err| holds
 * "FILE:LINE: message" and 0 is returned. */
int client_config_load(const char *path, struct client_config *cfg, char *err,
                       size_t errlen);

#endif
