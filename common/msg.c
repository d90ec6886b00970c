#include "msg.h"

#include <string.h>
#include <sys/socket.h>

int zt_user_proof_parse(CBS body, struct zt_user_proof *out) {
  uint8_t version;
  CBS chain;
  memset(out, 0, sizeof(*out));
  if (!CBS_get_u8(&body, &version) || version != ZT_PROTO_VERSION ||
      !CBS_get_u16_length_prefixed(&body, &chain))
    return 0;
  while (CBS_len(&chain) > 0) {
    CBS cert;
    if (out->ncerts == ZT_MAX_CHAIN_CERTS ||
        !CBS_get_u16_length_prefixed(&chain, &cert) || CBS_len(&cert) == 0 ||
        CBS_len(&cert) > ZT_MAX_CERT_LEN)
      return 0;
    out->certs[out->ncerts++] = cert;
  }
  if (!CBS_get_u16(&body, &out->sig_scheme) ||
      !CBS_get_u16_length_prefixed(&body, &out->sig) ||
      CBS_len(&out->sig) > ZT_MAX_SIG_LEN || CBS_len(&body) != 0)
    return 0;
  return 1;
}

int zt_user_proof_build(CBB *body, const uint8_t *const *certs,
                        const size_t *cert_lens, size_t ncerts,
                        uint16_t sig_scheme, const uint8_t *sig,
                        size_t sig_len) {
  CBB chain, cert, s;
  if (ncerts > ZT_MAX_CHAIN_CERTS || sig_len > ZT_MAX_SIG_LEN) return 0;
  if (!CBB_add_u8(body, ZT_PROTO_VERSION) ||
      !CBB_add_u16_length_prefixed(body, &chain))
    return 0;
  for (size_t i = 0; i < ncerts; i++) {
    if (cert_lens[i] == 0 || cert_lens[i] > ZT_MAX_CERT_LEN ||
        !CBB_add_u16_length_prefixed(&chain, &cert) ||
        !CBB_add_bytes(&cert, certs[i], cert_lens[i]))
      return 0;
  }
  return CBB_add_u16(body, sig_scheme) &&
         CBB_add_u16_length_prefixed(body, &s) &&
         CBB_add_bytes(&s, sig, sig_len) && CBB_flush(body);
}

int zt_domain_valid(const char *s, size_t len) {
  if (len == 0 || len > ZT_MAX_DOMAIN_LEN) return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return 0;
  }
  return 1;
}

/* A prefix travels as 4 or 16 address bytes and a length byte. */
static int get_prefix(CBS *v, struct zt_prefix *p) {
  size_t alen = CBS_len(v) - 1;
  uint8_t len;
  if (CBS_len(v) != 5 && CBS_len(v) != 17) return 0;
  memset(p, 0, sizeof(*p));
  p->family = alen == 4 ? AF_INET : AF_INET6;
  if (!CBS_copy_bytes(v, p->addr, alen) || !CBS_get_u8(v, &len) ||
      len > alen * 8)
    return 0;
  p->len = len;
  return 1;
}

/* A route names a network: no bits may be set after its prefix length. */
static int host_bits_clear(const struct zt_prefix *p) {
  unsigned max = (unsigned)zt_ip_len(p->family) * 8;
  for (unsigned bit = p->len; bit < max; bit++)
    if (p->addr[bit / 8] & (0x80u >> (bit % 8))) return 0;
  return 1;
}

static int add_prefix(CBB *cbb, uint8_t type, const struct zt_prefix *p) {
  CBB v;
  size_t alen = zt_ip_len(p->family);
  return alen != 0 && CBB_add_u8(cbb, type) &&
         CBB_add_u16_length_prefixed(cbb, &v) &&
         CBB_add_bytes(&v, p->addr, alen) && CBB_add_u8(&v, p->len) &&
         CBB_flush(cbb);
}

int zt_admit_parse(CBS body, struct zt_admit *out) {
  unsigned seen = 0;
  memset(out, 0, sizeof(*out));
  while (CBS_len(&body) > 0) {
    uint8_t type;
    CBS v;
    if (!CBS_get_u8(&body, &type) || !CBS_get_u16_length_prefixed(&body, &v))
      return 0;
    unsigned bit = type < 32 ? 1u << type : 0;
    switch (type) {
      case ZT_ATTR_ADDR4:
      case ZT_ATTR_ADDR6: {
        struct zt_prefix *p = type == ZT_ATTR_ADDR4 ? &out->addr4 : &out->addr6;
        int fam = type == ZT_ATTR_ADDR4 ? AF_INET : AF_INET6;
        if ((seen & bit) || !get_prefix(&v, p) || p->family != fam) return 0;
        if (type == ZT_ATTR_ADDR6) out->has_addr6 = 1;
        break;
      }
      case ZT_ATTR_MTU:
        if ((seen & bit) || !CBS_get_u16(&v, &out->mtu) || out->mtu < ZT_MIN_MTU ||
            out->mtu > ZT_MAX_MTU)
          return 0;
        break;
      case ZT_ATTR_KEEPALIVE:
        if ((seen & bit) || !CBS_get_u16(&v, &out->keepalive) ||
            out->keepalive == 0 || out->keepalive > 3600)
          return 0;
        break;
      case ZT_ATTR_SESSION_ID:
        if ((seen & bit) || !CBS_get_u64(&v, &out->session_id)) return 0;
        break;
      case ZT_ATTR_ROUTE:
        if (out->nroutes == ZT_MAX_ROUTES ||
            !get_prefix(&v, &out->routes[out->nroutes]) ||
            !host_bits_clear(&out->routes[out->nroutes++]))
          return 0;
        break;
      case ZT_ATTR_DNS_SERVER: {
        struct zt_ip *ip;
        if (out->ndns == ZT_MAX_DNS_SERVERS) return 0;
        ip = &out->dns[out->ndns++];
        if (CBS_len(&v) == 4) ip->family = AF_INET;
        else if (CBS_len(&v) == 16) ip->family = AF_INET6;
        else return 0;
        if (!CBS_copy_bytes(&v, ip->addr, CBS_len(&v))) return 0;
        break;
      }
      case ZT_ATTR_DNS_DOMAIN:
        if (out->ndomains == ZT_MAX_DNS_DOMAINS ||
            !zt_domain_valid((const char *)CBS_data(&v), CBS_len(&v)))
          return 0;
        memcpy(out->domains[out->ndomains++], CBS_data(&v), CBS_len(&v));
        if (!CBS_skip(&v, CBS_len(&v))) return 0;
        break;
      case ZT_ATTR_UDP:
        /* cipher ids: enum zt_aead_id in dkeys.h */
        if ((seen & bit) || !CBS_get_u16(&v, &out->udp_port) || out->udp_port == 0 ||
            !CBS_get_u32(&v, &out->udp_server_index) ||
            !CBS_get_u32(&v, &out->udp_client_index) ||
            !CBS_get_u8(&v, &out->udp_cipher) || out->udp_cipher < 1 ||
            out->udp_cipher > 2 || !CBS_get_u32(&v, &out->rekey_interval) ||
            out->rekey_interval < 1 || out->rekey_interval > 86400)
          return 0;
        out->has_udp = 1;
        break;
      case ZT_ATTR_RESUME:
        if ((seen & bit) || !CBS_copy_bytes(&v, out->resume_token, ZT_RESUME_TOKEN_LEN))
          return 0;
        out->has_resume = 1;
        break;
      case ZT_ATTR_RESUMED:
        if (seen & bit) return 0;
        out->resumed = 1;
        break;
      case ZT_ATTR_REAUTH:
        if ((seen & bit) || !CBS_get_u32(&v, &out->reauth_interval) ||
            out->reauth_interval > 604800)
          return 0;
        break;
      default:
        return 0;
    }
    if (CBS_len(&v) != 0) return 0;
    seen |= bit;
  }
  unsigned required = (1u << ZT_ATTR_ADDR4) | (1u << ZT_ATTR_MTU) |
                      (1u << ZT_ATTR_KEEPALIVE) | (1u << ZT_ATTR_SESSION_ID);
  if ((seen & required) != required) return 0;
  if (out->has_addr6 && out->mtu < 1280) return 0;
  return 1;
}

int zt_routes_parse(CBS body, struct zt_routes *out) {
  memset(out, 0, sizeof(*out));
  while (CBS_len(&body) > 0) {
    uint8_t type;
    CBS v;
    if (!CBS_get_u8(&body, &type) || !CBS_get_u16_length_prefixed(&body, &v) ||
        type != ZT_ATTR_ROUTE || out->n == ZT_MAX_ROUTES ||
        !get_prefix(&v, &out->routes[out->n]) || !host_bits_clear(&out->routes[out->n]))
      return 0;
    out->n++;
  }
  return 1;
}

int zt_routes_build(CBB *body, const struct zt_prefix *routes, size_t n) {
  if (n > ZT_MAX_ROUTES) return 0;
  for (size_t i = 0; i < n; i++)
    if (!add_prefix(body, ZT_ATTR_ROUTE, &routes[i])) return 0;
  return CBB_flush(body);
}

int zt_admit_build(CBB *body, const struct zt_admit *a) {
  CBB v;
  if (!add_prefix(body, ZT_ATTR_ADDR4, &a->addr4)) return 0;
  if (a->has_addr6 && !add_prefix(body, ZT_ATTR_ADDR6, &a->addr6)) return 0;
  if (!CBB_add_u8(body, ZT_ATTR_MTU) || !CBB_add_u16_length_prefixed(body, &v) ||
      !CBB_add_u16(&v, a->mtu) || !CBB_add_u8(body, ZT_ATTR_KEEPALIVE) ||
      !CBB_add_u16_length_prefixed(body, &v) || !CBB_add_u16(&v, a->keepalive) ||
      !CBB_add_u8(body, ZT_ATTR_SESSION_ID) ||
      !CBB_add_u16_length_prefixed(body, &v) || !CBB_add_u64(&v, a->session_id))
    return 0;
  if (a->nroutes > ZT_MAX_ROUTES || a->ndns > ZT_MAX_DNS_SERVERS ||
      a->ndomains > ZT_MAX_DNS_DOMAINS)
    return 0;
  for (size_t i = 0; i < a->nroutes; i++)
    if (!add_prefix(body, ZT_ATTR_ROUTE, &a->routes[i])) return 0;
  for (size_t i = 0; i < a->ndns; i++) {
    size_t l = zt_ip_len(a->dns[i].family);
    if (l == 0 || !CBB_add_u8(body, ZT_ATTR_DNS_SERVER) ||
        !CBB_add_u16_length_prefixed(body, &v) ||
        !CBB_add_bytes(&v, a->dns[i].addr, l))
      return 0;
  }
  for (size_t i = 0; i < a->ndomains; i++) {
    size_t l = strlen(a->domains[i]);
    if (!zt_domain_valid(a->domains[i], l) || !CBB_add_u8(body, ZT_ATTR_DNS_DOMAIN) ||
        !CBB_add_u16_length_prefixed(body, &v) ||
        !CBB_add_bytes(&v, (const uint8_t *)a->domains[i], l))
      return 0;
  }
  if (a->has_udp &&
      (!CBB_add_u8(body, ZT_ATTR_UDP) || !CBB_add_u16_length_prefixed(body, &v) ||
       !CBB_add_u16(&v, a->udp_port) || !CBB_add_u32(&v, a->udp_server_index) ||
       !CBB_add_u32(&v, a->udp_client_index) || !CBB_add_u8(&v, a->udp_cipher) ||
       !CBB_add_u32(&v, a->rekey_interval)))
    return 0;
  if (a->has_resume &&
      (!CBB_add_u8(body, ZT_ATTR_RESUME) || !CBB_add_u16_length_prefixed(body, &v) ||
       !CBB_add_bytes(&v, a->resume_token, ZT_RESUME_TOKEN_LEN)))
    return 0;
  if (a->resumed &&
      (!CBB_add_u8(body, ZT_ATTR_RESUMED) || !CBB_add_u16_length_prefixed(body, &v)))
    return 0;
  if (a->reauth_interval &&
      (!CBB_add_u8(body, ZT_ATTR_REAUTH) || !CBB_add_u16_length_prefixed(body, &v) ||
       !CBB_add_u32(&v, a->reauth_interval)))
    return 0;
  return CBB_flush(body);
}

int zt_resume_parse(CBS body, struct zt_resume *out) {
  return CBS_get_u64(&body, &out->session_id) &&
         CBS_copy_bytes(&body, out->token, ZT_RESUME_TOKEN_LEN) && CBS_len(&body) == 0;
}

int zt_resume_build(CBB *body, const struct zt_resume *r) {
  return CBB_add_u64(body, r->session_id) &&
         CBB_add_bytes(body, r->token, ZT_RESUME_TOKEN_LEN) && CBB_flush(body);
}

int zt_path_parse(CBS body, uint8_t *path) {
  return CBS_get_u8(&body, path) && CBS_len(&body) == 0 &&
         (*path == ZT_PATH_TLS || *path == ZT_PATH_UDP);
}

int zt_path_build(CBB *body, uint8_t path) {
  return CBB_add_u8(body, path) && CBB_flush(body);
}

int zt_reason_parse(CBS body, struct zt_reason_msg *out) {
  CBS text;
  memset(out, 0, sizeof(*out));
  if (!CBS_get_u16(&body, &out->code) ||
      !CBS_get_u16_length_prefixed(&body, &text) || CBS_len(&body) != 0 ||
      CBS_len(&text) > ZT_MAX_REASON_TEXT)
    return 0;
  size_t n = CBS_len(&text);
  for (size_t i = 0; i < n; i++) {
    uint8_t c = CBS_data(&text)[i];
    if (c < 0x20 || c > 0x7e) return 0; /* keeps peers' text out of log syntax */
    out->text[i] = (char)c;
  }
  out->text[n] = '\0';
  return 1;
}

int zt_reason_build(CBB *body, uint16_t code, const char *text) {
  CBB t;
  size_t n = strlen(text);
  if (n > ZT_MAX_REASON_TEXT) n = ZT_MAX_REASON_TEXT;
  if (!CBB_add_u16(body, code) || !CBB_add_u16_length_prefixed(body, &t))
    return 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = (uint8_t)text[i];
    if (!CBB_add_u8(&t, (c < 0x20 || c > 0x7e) ? '?' : c)) return 0;
  }
  return CBB_flush(body);
}
