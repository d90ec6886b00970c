#include "udpio.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* Socket buffers: a burst of several GSO trains must fit, or the kernel
 * drops what a slower reader cannot take at once. */
#define UDP_SOCK_BUF (4 * 1024 * 1024)

int zt_udp_in_init(struct zt_udp_in *in) {
  memset(in, 0, sizeof(*in));
  in->bufs = malloc((size_t)ZT_UDP_RX_MSGS * ZT_UDP_RX_BUF);
  return in->bufs != NULL;
}

void zt_udp_in_free(struct zt_udp_in *in) {
  free(in->bufs);
  in->bufs = NULL;
}

int zt_udp_in_recv(struct zt_udp_in *in, int fd) {
  for (int i = 0; i < ZT_UDP_RX_MSGS; i++) {
    in->iov[i].iov_base = in->bufs + (size_t)i * ZT_UDP_RX_BUF;
    in->iov[i].iov_len = ZT_UDP_RX_BUF;
    struct msghdr *h = &in->msgs[i].msg_hdr;
    h->msg_name = &in->from[i];
    h->msg_namelen = sizeof(in->from[i]);
    h->msg_iov = &in->iov[i];
    h->msg_iovlen = 1;
    h->msg_control = in->cmsg[i];
    h->msg_controllen = sizeof(in->cmsg[i]);
    h->msg_flags = 0;
  }
  int n = recvmmsg(fd, in->msgs, ZT_UDP_RX_MSGS, MSG_DONTWAIT, NULL);
  if (n < 0) {
    in->n = 0;
    return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
  }
  in->n = n;
  return n;
}

void zt_udp_in_msg(struct zt_udp_in *in, int i, uint8_t **data, size_t *len,
                   size_t *seg, const struct sockaddr **from, socklen_t *fromlen) {
  struct msghdr *h = &in->msgs[i].msg_hdr;
  *data = in->iov[i].iov_base;
  *len = in->msgs[i].msg_len;
  *seg = *len;
  /* A truncated message (MSG_TRUNC) cannot be a datagram we sent: the
   * caller sees only its first bytes, and their authentication fails. */
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int gso = 0;
      memcpy(&gso, CMSG_DATA(c), sizeof(gso) < c->cmsg_len ? sizeof(gso) : 0);
      if (gso > 0 && (size_t)gso < *len) *seg = (size_t)gso;
    }
  }
  *from = (const struct sockaddr *)&in->from[i];
  *fromlen = h->msg_namelen;
}

int zt_udp_out_init(struct zt_udp_out *out) {
  memset(out, 0, sizeof(*out));
  out->arena = malloc(ZT_UDP_TX_ARENA);
  out->gso = 1;
  return out->arena != NULL;
}

void zt_udp_out_free(struct zt_udp_out *out) {
  free(out->arena);
  out->arena = NULL;
}

uint8_t *zt_udp_out_room(struct zt_udp_out *out, size_t need) {
  if (out->n >= ZT_UDP_TX_MAX || out->ndest >= ZT_UDP_TX_MAX ||
      ZT_UDP_TX_ARENA - out->used < need)
    return NULL;
  return out->arena + out->used;
}

int zt_udp_out_commit(struct zt_udp_out *out, uint8_t *p, size_t len,
                      const struct sockaddr *to, socklen_t tolen) {
  size_t off = (size_t)(p - out->arena);
  if (p < out->arena + out->used || off > ZT_UDP_TX_ARENA || len > ZT_UDP_TX_ARENA - off ||
      out->n >= ZT_UDP_TX_MAX || tolen > sizeof(struct sockaddr_storage))
    return 0;
  size_t d = out->ndest;
  if (d > 0 && out->destlen[d - 1] == tolen && memcmp(&out->dest[d - 1], to, tolen) == 0) {
    d--;
  } else {
    if (d >= ZT_UDP_TX_MAX) return 0;
    memcpy(&out->dest[d], to, tolen);
    out->destlen[d] = tolen;
    out->ndest++;
  }
  out->ent[out->n].off = (uint32_t)off;
  out->ent[out->n].len = (uint32_t)len;
  out->ent[out->n].dest = (uint16_t)d;
  out->n++;
  out->used = off + len;
  return 1;
}

/* How many entries from |i| on can go in one GSO send: same destination,
 * contiguous, all of the first one's size except possibly the last. */
static size_t gso_run(const struct zt_udp_out *out, size_t i) {
  size_t seg = out->ent[i].len, total = seg, k = i + 1;
  /* UDP_SEGMENT 0 means "no segmentation": empty datagrams go alone. */
  if (!out->gso || seg == 0) return 1;
  while (k < out->n && k - i < ZT_UDP_GSO_MAX_SEGS &&
         out->ent[k].dest == out->ent[i].dest &&
         out->ent[k].off == out->ent[k - 1].off + out->ent[k - 1].len &&
         out->ent[k].len <= seg && total + out->ent[k].len <= ZT_UDP_GSO_MAX_BYTES) {
    total += out->ent[k].len;
    k++;
    if (out->ent[k - 1].len < seg) break; /* a short one ends the train */
  }
  return k - i;
}

/* send_singly sends entries [first, first + count) one datagram per call
 * and returns how many the kernel took. */
static size_t send_singly(const struct zt_udp_out *out, int fd, size_t first,
                          size_t count) {
  size_t ok = 0;
  for (size_t k = first; k < first + count; k++) {
    uint16_t d = out->ent[k].dest;
    ssize_t r;
    do {
      r = sendto(fd, out->arena + out->ent[k].off, out->ent[k].len, MSG_DONTWAIT,
                 (const struct sockaddr *)&out->dest[d], out->destlen[d]);
    } while (r < 0 && errno == EINTR);
    if (r >= 0) ok++;
  }
  return ok;
}

size_t zt_udp_out_flush(struct zt_udp_out *out, int fd) {
  enum { BATCH = 64 };
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctl[BATCH];
  size_t counts[BATCH], firsts[BATCH], sent = 0, i = 0;
  while (i < out->n) {
    int m = 0;
    while (m < BATCH && i < out->n) {
      size_t run = gso_run(out, i);
      size_t bytes = 0;
      for (size_t k = i; k < i + run; k++) bytes += out->ent[k].len;
      memset(&msgs[m], 0, sizeof(msgs[m]));
      iov[m].iov_base = out->arena + out->ent[i].off;
      iov[m].iov_len = bytes;
      struct msghdr *h = &msgs[m].msg_hdr;
      h->msg_name = &out->dest[out->ent[i].dest];
      h->msg_namelen = out->destlen[out->ent[i].dest];
      h->msg_iov = &iov[m];
      h->msg_iovlen = 1;
      if (run > 1) {
        uint16_t seg = (uint16_t)out->ent[i].len;
        h->msg_control = ctl[m].buf;
        h->msg_controllen = sizeof(ctl[m].buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(seg));
        memcpy(CMSG_DATA(c), &seg, sizeof(seg));
      }
      firsts[m] = i;
      counts[m++] = run;
      i += run;
    }
    int done = 0;
    while (done < m) {
      int r = sendmmsg(fd, msgs + done, (unsigned)(m - done), MSG_DONTWAIT);
      if (r > 0) {
        for (int k = done; k < done + r; k++) sent += counts[k];
        done += r;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EIO || errno == EINVAL) &&
          msgs[done].msg_hdr.msg_controllen) {
        /* The kernel would not segment this train: its path cannot (a
         * device without checksum offload) or its destination is refused
         * anyway (port 0). Send it datagram by datagram; only if that
         * works was GSO at fault, and later trains go singly too. */
        size_t ok = send_singly(out, fd, firsts[done], counts[done]);
        if (ok > 0) out->gso = 0;
        sent += ok;
        out->errors += counts[done] - ok;
        done++;
        continue;
      }
      /* Full socket buffer or an unreachable peer: drop the one that
       * failed (the next ones may go elsewhere) and go on. */
      out->errors += counts[done];
      done++;
    }
  }
  out->sent += sent;
  out->n = out->ndest = out->used = 0;
  return sent;
}

void zt_udp_socket_tune(int fd, int family) {
  int one = 1, buf = UDP_SOCK_BUF;
  setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  if (family == AF_INET) {
    int pmtu = IP_PMTUDISC_DO;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
  } else {
    int pmtu = IPV6_PMTUDISC_DO;
    setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu));
  }
}
