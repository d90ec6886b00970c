/* The concentrator's configuration (server.conf), read and fully validated
 * before anything starts. */
#ifndef ZTVPN_SERVER_CONFIG_H
#define ZTVPN_SERVER_CONFIG_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "conf.h"
#include "proto.h"

#define SERVER_MAX_CRLS 16

struct server_config {
  char file[ZT_PATH_LEN];     /* this configuration, as given */
  char listen_host[256];
  uint16_t listen_port;
  int has_udp_listen;         /* the UDP data channel */
  char udp_host[256];
  uint16_t udp_port;
  int data_cipher;            /* enum zt_aead_id */
  unsigned rekey_interval;    /* seconds */
  unsigned reauth_interval;   /* seconds; 0 = never */
  unsigned workers;           /* data-plane threads (dplane.h) */
  char cert[ZT_PATH_LEN], key[ZT_PATH_LEN];
  char device_ca[ZT_PATH_LEN], user_ca[ZT_PATH_LEN];
  size_t ncrl;
  char crl[SERVER_MAX_CRLS][ZT_PATH_LEN];
  char interface[IFNAMSIZ];
  unsigned mtu;
  unsigned keepalive;
  unsigned handshake_timeout;
  unsigned max_sessions;
  unsigned max_handshakes;            /* accepted, not yet admitted, at once */
  unsigned max_handshakes_per_source; /* of those, from one source */
  unsigned connect_rate_per_source;   /* per second; burst twice that */
  unsigned idle_timeout;              /* seconds without data; 0 = never */
  struct zt_prefix pool4;
  int has_pool6;
  struct zt_prefix pool6;
  size_t nroutes;
  struct zt_prefix routes[ZT_MAX_ROUTES];
  size_t ndns;
  struct zt_ip dns[ZT_MAX_DNS_SERVERS];
  size_t ndomains;
  char domains[ZT_MAX_DNS_DOMAINS][ZT_MAX_DOMAIN_LEN + 1];
  int full_tunnel;            /* push default routes instead of the policy's */
  int has_policy;
  char policy[ZT_PATH_LEN];   /* policy file; without one, tunnel.routes rule */
  char control_socket[ZT_PATH_LEN];
  int has_metrics;            /* metrics_listen: the Prometheus endpoint */
  char metrics_host[256];
  uint16_t metrics_port;
  /* Privilege separation (privsep.h): the account of the network-facing
   * process, and the line that named it (0: the default). sandbox = 0 runs
   * one root process as before. */
  char user[64];
  int user_line;
  int sandbox;
  struct zt_conf_files files; /* every file named, for zt_conf_check_files */
};

/* server_config_load reads and validates |path| into |cfg|. On failure
 * |err| holds "FILE:LINE: message" and 0 is returned. */
int server_config_load(const char *path, struct server_config *cfg, char *err,
                       size_t errlen);

#endif
