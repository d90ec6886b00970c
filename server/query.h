/* The offline policy question an administrator asks before (or instead of)
 * trying it: may user U on device D reach X, and which rule decides?
 * `ztvpn-server -c server.conf -q USER DEVICE DEST` answers it from the
 * configuration's policy, exactly as the running concentrator would. */
#ifndef ZTVPN_QUERY_H
#define ZTVPN_QUERY_H

#include <stdio.h>

#include "policy.h"

/* query_run answers for |user| and |device| (each "NAME", "NAME:GROUP,GROUP"
 * or the path of a PEM certificate whose CN and OUs are used) and |dest|
 * ("ADDR [tcp/N|udp/N|icmp|any]", or "from ADDR ..." for an unsolicited
 * packet to the client). It prints one line to |out| and returns the exit
 * code: 0 allowed, 1 denied or not admitted, 2 for an unusable question
 * (the reason on |err|). */
int query_run(const struct policy *p, const char *user, const char *device,
              const char *dest, FILE *out, FILE *err);

#endif
