/* server_config_load (server/config.c) on any bytes written as server.conf:
 * it must refuse with "FILE:LINE: message" or give a configuration that
 * holds every promise the rest of the server relies on. inc.conf, which
 * inputs may @include, holds a valid tls group. */
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "fuzz_file.h"
#include "msg.h"

static struct server_config cfg;
static char err[ZT_CONF_ERR_LEN];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  ff_init("server.conf",
          "tls = {\n"
          "  certificate = \"server.crt\"; private_key = \"server.key\";\n"
          "  device_ca = \"device-ca.crt\"; user_ca = \"user-ca.crt\";\n"
          "  crl = [ \"device-ca.crl\" ];\n"
          "};\n");
  return 0;
}

static void check_prefix(const struct zt_prefix *p) {
  FUZZ_CHECK(p->family == AF_INET || p->family == AF_INET6);
  FUZZ_CHECK(p->len <= (p->family == AF_INET ? 32 : 128));
}

static void check_config(const struct server_config *c) {
  FUZZ_CHECK(c->listen_host[0] != '\0' && memchr(c->listen_host, '\0', sizeof(c->listen_host)));
  FUZZ_CHECK(c->listen_port != 0);
  ff_path_ok(c->cert, sizeof(c->cert), 0);
  ff_path_ok(c->key, sizeof(c->key), 0);
  ff_path_ok(c->device_ca, sizeof(c->device_ca), 0);
  ff_path_ok(c->user_ca, sizeof(c->user_ca), 0);
  FUZZ_CHECK(strcmp(c->device_ca, c->user_ca) != 0);
  FUZZ_CHECK(c->ncrl <= SERVER_MAX_CRLS);
  for (size_t i = 0; i < c->ncrl; i++) ff_path_ok(c->crl[i], sizeof(c->crl[i]), 0);
  ff_path_ok(c->control_socket, sizeof(c->control_socket), 1);
  size_t n = strnlen(c->interface, sizeof(c->interface));
  FUZZ_CHECK(n > 0 && n < IFNAMSIZ);
  FUZZ_CHECK(c->mtu >= ZT_MIN_MTU && c->mtu <= ZT_MAX_MTU);
  FUZZ_CHECK(c->keepalive >= 1 && c->keepalive <= 3600);
  FUZZ_CHECK(c->handshake_timeout >= 1 && c->handshake_timeout <= 300);
  FUZZ_CHECK(c->max_sessions >= 1 && c->max_sessions <= 65534);
  /* pool4: IPv4 with room for the server and at least one client */
  FUZZ_CHECK(c->pool4.family == AF_INET && c->pool4.len <= 30);
  if (c->has_pool6) {
    FUZZ_CHECK(c->pool6.family == AF_INET6 && c->pool6.len <= 126);
    FUZZ_CHECK(c->mtu >= 1280);
  }
  FUZZ_CHECK(c->nroutes <= ZT_MAX_ROUTES);
  for (size_t i = 0; i < c->nroutes; i++) check_prefix(&c->routes[i]);
  FUZZ_CHECK(c->ndns <= ZT_MAX_DNS_SERVERS);
  for (size_t i = 0; i < c->ndns; i++)
    FUZZ_CHECK(c->dns[i].family == AF_INET || c->dns[i].family == AF_INET6);
  FUZZ_CHECK(c->ndomains <= ZT_MAX_DNS_DOMAINS);
  for (size_t i = 0; i < c->ndomains; i++)
    FUZZ_CHECK(zt_domain_valid(c->domains[i], strlen(c->domains[i])));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ff_includes_ok(data, size, "server.conf")) return 0;
  ff_write(data, size);
  memset(err, 0x7f, sizeof(err));
  if (server_config_load(ff_file, &cfg, err, sizeof(err)))
    check_config(&cfg);
  else
    ff_check_err(err, sizeof(err));
  return 0;
}
