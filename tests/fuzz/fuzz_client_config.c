/* client_config_load (client/config.c) on any bytes written as
 * client.conf: it must refuse with "FILE:LINE: message" or give a
 * configuration that holds what the client relies on. inc.conf, which
 * inputs may @include, holds valid device and user groups. */
#include <net/if.h>
#include <string.h>

#include "config.h"
#include "fuzz_file.h"

static struct client_config cfg;
static char err[ZT_CONF_ERR_LEN];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  ff_init("client.conf",
          "device = { certificate = \"device.crt\"; private_key = \"device.key\"; };\n"
          "user = { certificate = \"alice.crt\"; private_key = \"alice.key\"; };\n");
  return 0;
}

static void check_config(const struct client_config *c) {
  FUZZ_CHECK(c->server_host[0] != '\0' && memchr(c->server_host, '\0', sizeof(c->server_host)));
  FUZZ_CHECK(c->server_port != 0);
  FUZZ_CHECK(c->server_name[0] != '\0' && memchr(c->server_name, '\0', sizeof(c->server_name)));
  ff_path_ok(c->server_ca, sizeof(c->server_ca), 0);
  ff_path_ok(c->device_cert, sizeof(c->device_cert), 0);
  ff_path_ok(c->device_key, sizeof(c->device_key), 0);
  ff_path_ok(c->user_cert, sizeof(c->user_cert), 0);
  ff_path_ok(c->user_key, sizeof(c->user_key), 0);
  FUZZ_CHECK(strcmp(c->device_cert, c->user_cert) != 0);
  ff_path_ok(c->control_socket, sizeof(c->control_socket), 1);
  size_t n = strnlen(c->interface, sizeof(c->interface));
  FUZZ_CHECK(n > 0 && n < IFNAMSIZ);
  FUZZ_CHECK(c->connect_timeout >= 1 && c->connect_timeout <= 120);
  FUZZ_CHECK(c->max_backoff >= 1 && c->max_backoff <= 3600);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ff_includes_ok(data, size, "client.conf")) return 0;
  ff_write(data, size);
  memset(err, 0x7f, sizeof(err));
  if (client_config_load(ff_file, &cfg, err, sizeof(err)))
    check_config(&cfg);
  else
    ff_check_err(err, sizeof(err));
  return 0;
}
