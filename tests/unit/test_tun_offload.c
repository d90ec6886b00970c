/* tun/ offloads against the real kernel. Two private network namespaces,
 * each with a TUN device opened with IFF_VNET_HDR and offloads: A
 * (100.64.0.1, two queues) and B (100.64.0.2). The test relays packets
 * between the two devices the way the data plane will, through
 * zt_gso_split and zt_gro_coalesce, so the kernel in A hands over
 * super-packets and the kernel in B takes the coalesced ones; real TCP and
 * UDP sockets on both ends judge the result. A third device in B without
 * offloads checks the partial checksums: the kernel forwards a coalesced
 * super-packet to it, segmenting and completing the checksums in software
 * from what zt_gro_coalesce left, and every packet read there must be
 * right. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare, setns */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ifinfo.h"

#include "offload.h"
#include "superpkt.h"
#include "tun.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define MTU 1400
#define STRIDE 1536
#define HEADROOM 16
#define TCP_TOTAL (1024 * 1024)
#define TCP_PORT 5001
#define UDP_PORT 5002
#define UDP_SEG 1200
#define UDP_SEGS 10
#define DEADLINE_MS 20000

#define assert_ok(call)                          \
  do {                                           \
    if (!(call)) fail_msg("%s: %s", #call, err); \
  } while (0)

static int usable;         /* root, /dev/net/tun and the namespaces */
static int ns_a = -1, ns_b = -1;

static uint8_t rbuf[ZT_VNET_HDR_LEN + 65536];
static uint8_t segs[ZT_GSO_MAX_SEGS * STRIDE];
static size_t seglen[ZT_GSO_MAX_SEGS];
static struct zt_gro_pkt pkts[ZT_GSO_MAX_SEGS];
static struct iovec iov[ZT_GSO_MAX_SEGS];

struct relay_stats {
  size_t reads, super_reads, max_segs, l4_segments, writes, merged_writes;
  int udp_super;
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void enter(int ns) {
  if (setns(ns, CLONE_NEWNET) != 0) fail_msg("setns: %s", strerror(errno));
}


/* open_dev opens |name| in namespace |ns| with |queues| queues and offloads
 * (|vnet|), MTU 1400, up, with the address |a4|/24 and |a6|/64. */
static void open_dev(int ns, const char *name, unsigned queues, int vnet,
                     const char *a4, const char *a6, struct tun_dev *dev) {
  char err[256] = "";
  enter(ns);
  struct zt_prefix p4 = ifinfo_prefix(a4, 24), p6 = ifinfo_prefix(a6, 64);
  assert_ok(tun_open_queues(name, queues, vnet, dev, err, sizeof(err)));
  assert_int_equal(dev->nqueues, queues);
  assert_int_equal(dev->fd, dev->queues[0]);
  assert_int_equal(dev->vnet, vnet);
  assert_ok(tun_set_mtu_up(dev, MTU, err, sizeof(err)));
  assert_ok(tun_add_address(dev, &p4, err, sizeof(err)));
  assert_ok(tun_add_address(dev, &p6, err, sizeof(err)));
}

static int is_l4(const uint8_t *ip, size_t len) {
  if (len < 20) return 0;
  uint8_t proto = (ip[0] >> 4) == 4 ? ip[9] : len >= 40 ? ip[6] : 0;
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

/* relay moves what one read() of a vnet device returned to device |to|:
 * split, every TCP/UDP segment's checksums checked, coalesced (UDP only
 * when |to| took USO), written. */
static void relay(const uint8_t *pkt, size_t len, const struct tun_dev *to,
                  struct relay_stats *st) {
  struct virtio_net_hdr h;
  memcpy(&h, pkt, sizeof(h));
  int n = zt_gso_split(pkt, len, segs, STRIDE, HEADROOM, ZT_GSO_MAX_SEGS,
                       seglen);
  if (n <= 0)
    fail_msg("split refused a packet from the kernel: gso_type %u gso_size "
             "%u hdr_len %u csum %u+%u, %zu bytes", h.gso_type, h.gso_size,
             h.hdr_len, h.csum_start, h.csum_offset, len);
  st->reads++;
  if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
    st->super_reads++;
    if ((size_t)n > st->max_segs) st->max_segs = (size_t)n;
    if (h.gso_type == VIRTIO_NET_HDR_GSO_UDP_L4) st->udp_super = 1;
  }
  uint8_t *end = segs + sizeof(segs);
  for (int i = 0; i < n; i++) {
    uint8_t *ip = segs + (size_t)i * STRIDE + HEADROOM;
    assert_true(seglen[i] <= MTU);
    if (is_l4(ip, seglen[i])) {
      st->l4_segments++;
      if (!sp_csum_ok(ip, seglen[i]))
        fail_msg("segment %d of %d: bad checksum", i, n);
    }
    pkts[i].data = ip;
    pkts[i].len = seglen[i];
    pkts[i].cap = (size_t)(end - ip);
  }
  size_t nout = zt_gro_coalesce(pkts, (size_t)n, to->uso, iov);
  for (size_t i = 0; i < nout; i++) {
    struct virtio_net_hdr oh;
    memcpy(&oh, iov[i].iov_base, sizeof(oh));
    if (oh.gso_type != VIRTIO_NET_HDR_GSO_NONE) st->merged_writes++;
    ssize_t w = write(to->fd, iov[i].iov_base, iov[i].iov_len);
    if (w != (ssize_t)iov[i].iov_len)
      fail_msg("write %zu bytes (gso_type %u) to %s: %zd %s", iov[i].iov_len,
               oh.gso_type, to->name, w, strerror(errno));
    st->writes++;
  }
}

/* pump relays whatever both devices have, for at most |ms| milliseconds,
 * polling the extra fds in |extra| (nextra of them) as well; returns when
 * one of those is ready or the time is up. */
static void pump(struct tun_dev *a, struct tun_dev *b, struct pollfd *extra,
                 size_t nextra, int ms, struct relay_stats *ab,
                 struct relay_stats *ba) {
  struct pollfd pf[TUN_MAX_QUEUES + 1 + 4];
  size_t np = 0;
  for (unsigned q = 0; q < a->nqueues; q++)
    pf[np++] = (struct pollfd){.fd = a->queues[q], .events = POLLIN};
  pf[np++] = (struct pollfd){.fd = b->fd, .events = POLLIN};
  size_t nt = np;
  for (size_t i = 0; i < nextra; i++) pf[np++] = extra[i];
  int r = poll(pf, np, ms);
  assert_true(r >= 0);
  for (size_t i = 0; i < nt; i++) {
    if (!(pf[i].revents & POLLIN)) continue;
    /* a bounded number of reads per wakeup keeps both directions moving */
    for (int k = 0; k < 64; k++) {
      ssize_t got = read(pf[i].fd, rbuf, sizeof(rbuf));
      if (got < 0 && errno == EAGAIN) break;
      assert_true(got > 0);
      if (i + 1 < nt)
        relay(rbuf, (size_t)got, b, ab);
      else
        relay(rbuf, (size_t)got, a, ba);
    }
  }
  for (size_t i = 0; i < nextra; i++) extra[i].revents = pf[nt + i].revents;
}

static int tcp_socket(int ns) {
  enter(ns);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  return fd;
}

static struct sockaddr_in sin4(const char *ip, uint16_t port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
  return sa;
}

/* A TCP stream from A to B: the kernel in A hands over super-packets
 * (TSO), each one split and checked; the kernel in B takes the coalesced
 * ones; B's socket gets every byte in order. */
static void test_tcp_stream(void **state) {
  (void)state;
  if (!usable) skip();
  struct tun_dev a, b;
  open_dev(ns_a, "ztoffa", 2, 1, "100.64.0.1", "fd00:5a::1", &a);
  open_dev(ns_b, "ztoffb", 1, 1, "100.64.0.2", "fd00:5a::2", &b);
  int lfd = tcp_socket(ns_b);
  struct sockaddr_in dst = sin4("100.64.0.2", TCP_PORT);
  assert_int_equal(bind(lfd, (struct sockaddr *)&dst, sizeof(dst)), 0);
  assert_int_equal(listen(lfd, 1), 0);
  int cfd = tcp_socket(ns_a);
  int r = connect(cfd, (struct sockaddr *)&dst, sizeof(dst));
  assert_true(r == 0 || errno == EINPROGRESS);

  static uint8_t chunk[65536], rx[65536];
  size_t sent = 0, received = 0;
  int sfd = -1, eof = 0;
  struct relay_stats ab = {0}, ba = {0};
  long long deadline = now_ms() + DEADLINE_MS;
  while (!eof && now_ms() < deadline) {
    struct pollfd ex[2] = {
        {.fd = sfd >= 0 ? sfd : lfd, .events = POLLIN},
        {.fd = cfd, .events = sent < TCP_TOTAL ? POLLOUT : 0}};
    pump(&a, &b, ex, 2, 100, &ab, &ba);
    if (ex[1].revents & POLLOUT) {
      size_t n = TCP_TOTAL - sent < sizeof(chunk) ? TCP_TOTAL - sent
                                                  : sizeof(chunk);
      for (size_t i = 0; i < n; i++) chunk[i] = sp_byte(3, sent + i);
      ssize_t w = send(cfd, chunk, n, MSG_NOSIGNAL);
      if (w > 0) sent += (size_t)w;
      if (sent == TCP_TOTAL) shutdown(cfd, SHUT_WR);
    }
    if (sfd < 0 && (ex[0].revents & POLLIN)) {
      sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      assert_true(sfd >= 0);
    } else if (sfd >= 0 && (ex[0].revents & (POLLIN | POLLHUP))) {
      ssize_t got;
      while ((got = recv(sfd, rx, sizeof(rx), 0)) > 0) {
        for (ssize_t i = 0; i < got; i++)
          if (rx[i] != sp_byte(3, received + (size_t)i))
            fail_msg("byte %zu of the stream differs", received + (size_t)i);
        received += (size_t)got;
      }
      if (got == 0) eof = 1;
    }
  }
  print_message("tcp: %zu reads from A, %zu super-packets (up to %zu "
                "segments), %zu TCP segments checked; %zu writes to B, %zu "
                "coalesced\n", ab.reads, ab.super_reads, ab.max_segs,
                ab.l4_segments, ab.writes, ab.merged_writes);
  assert_true(eof);
  assert_int_equal(received, TCP_TOTAL);
  assert_true(ab.super_reads > 0);     /* the kernel used TSO */
  assert_true(ab.max_segs > 1);
  assert_true(ab.merged_writes > 0);   /* and B's kernel took super-packets */
  close(sfd);
  close(cfd);
  close(lfd);
  tun_close(&a);
  tun_close(&b);
}

/* UDP: one UDP_SEGMENT send in A is one super-packet (USO) when the kernel
 * took USO; B's socket receives each datagram whole. */
static void test_udp_segments(void **state) {
  (void)state;
  if (!usable) skip();
  struct tun_dev a, b;
  open_dev(ns_a, "ztoffa", 2, 1, "100.64.0.1", "fd00:5a::1", &a);
  open_dev(ns_b, "ztoffb", 1, 1, "100.64.0.2", "fd00:5a::2", &b);
  assert_int_equal(a.uso, b.uso);
  enter(ns_b);
  int rfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in dst = sin4("100.64.0.2", UDP_PORT);
  assert_int_equal(bind(rfd, (struct sockaddr *)&dst, sizeof(dst)), 0);
  enter(ns_a);
  int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int gso = UDP_SEG;
  assert_int_equal(setsockopt(ufd, IPPROTO_UDP, UDP_SEGMENT, &gso, sizeof(gso)), 0);
  static uint8_t msg[UDP_SEG * UDP_SEGS];
  for (size_t i = 0; i < sizeof(msg); i++) msg[i] = sp_byte(4, i);
  assert_int_equal(sendto(ufd, msg, sizeof(msg), 0, (struct sockaddr *)&dst,
                          sizeof(dst)),
                   sizeof(msg));
  struct relay_stats ab = {0}, ba = {0};
  size_t got_dgrams = 0;
  long long deadline = now_ms() + DEADLINE_MS;
  while (got_dgrams < UDP_SEGS && now_ms() < deadline) {
    struct pollfd ex = {.fd = rfd, .events = POLLIN};
    pump(&a, &b, &ex, 1, 100, &ab, &ba);
    uint8_t d[2048];
    ssize_t n;
    while ((n = recv(rfd, d, sizeof(d), 0)) > 0) {
      assert_int_equal(n, UDP_SEG);
      assert_memory_equal(d, msg + got_dgrams * UDP_SEG, UDP_SEG);
      got_dgrams++;
    }
  }
  print_message("udp: uso %d, %zu reads from A (%zu super-packets), %zu "
                "writes to B (%zu coalesced)\n", a.uso, ab.reads,
                ab.super_reads, ab.writes, ab.merged_writes);
  assert_int_equal(got_dgrams, UDP_SEGS);
  if (a.uso) {
    assert_true(ab.udp_super);
    assert_true(ab.merged_writes > 0);
  }
  close(ufd);
  close(rfd);
  tun_close(&a);
  tun_close(&b);
}

/* forward_one writes the segments |s| (n of them) coalesced into B, which
 * forwards them to C (no offloads: the kernel segments and completes the
 * checksums itself), reads C until the payload is all there, and checks
 * every packet. */
static void forward_one(struct tun_dev *b, struct tun_dev *c, struct sp_spec *s,
                        size_t n) {
  size_t total = 0;
  uint8_t *end = segs + sizeof(segs);
  for (size_t i = 0; i < n; i++) {
    pkts[i].data = segs + i * STRIDE + HEADROOM;
    pkts[i].len = sp_build(&s[i], pkts[i].data, 0);
    pkts[i].cap = (size_t)(end - pkts[i].data);
    total += s[i].payload;
  }
  size_t nout = zt_gro_coalesce(pkts, n, b->uso, iov);
  assert_int_equal(nout, 1);
  struct virtio_net_hdr h;
  memcpy(&h, iov[0].iov_base, sizeof(h));
  assert_true(h.gso_type != VIRTIO_NET_HDR_GSO_NONE);
  assert_int_equal(write(b->fd, iov[0].iov_base, iov[0].iov_len),
                   (ssize_t)iov[0].iov_len);
  size_t got = 0, packets = 0;
  long long deadline = now_ms() + 5000;
  while (got < total && now_ms() < deadline) {
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    if (poll(&pf, 1, 100) <= 0) continue;
    uint8_t p[2048];
    ssize_t r;
    while ((r = read(c->fd, p, sizeof(p))) > 0) {
      if (!is_l4(p, (size_t)r)) continue; /* router solicitations and such */
      if (!sp_csum_ok(p, (size_t)r))
        fail_msg("forwarded packet %zu: bad checksum", packets);
      size_t ihl = sp_iphlen(p);
      size_t hl = ihl + (s[0].proto == IPPROTO_TCP
                             ? (size_t)(p[ihl + 12] >> 4) * 4 : 8);
      size_t pl = (size_t)r - hl;
      for (size_t i = 0; i < pl; i++)
        if (p[hl + i] != sp_byte(s[0].seed, got + i))
          fail_msg("forwarded byte %zu differs", got + i);
      got += pl;
      packets++;
    }
  }
  assert_int_equal(got, total);
  assert_int_equal(packets, n);
}

static void write_sysctl(const char *path, const char *v) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail_msg("%s: %s", path, strerror(errno));
  assert_int_equal(write(fd, v, strlen(v)), (ssize_t)strlen(v));
  close(fd);
}

static void test_forwarded_checksums(void **state) {
  (void)state;
  if (!usable) skip();
  struct tun_dev b, c;
  open_dev(ns_b, "ztoffb", 1, 1, "100.64.0.2", "fd00:5a::2", &b);
  open_dev(ns_b, "ztoffc", 1, 0, "198.51.100.1", "fd00:77::1", &c);
  write_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
  write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
  static const uint8_t s4[4] = {100, 64, 0, 7}, d4[4] = {198, 51, 100, 7};
  static const uint8_t s6[16] = {0xfd, 0, 0, 0x5a, [15] = 7},
                       d6[16] = {0xfd, 0, 0, 0x77, [15] = 7};
  for (int v = 4; v <= 6; v += 2)
    for (int udp = 0; udp <= (b.uso ? 1 : 0); udp++) {
      struct sp_spec s[20];
      size_t n = 20;
      for (size_t k = 0; k < n; k++) {
        s[k] = udp ? sp_udp(v, 1300, 0) : sp_tcp(v, 1300, 0);
        if (!udp) s[k].flags = 0x10;
        s[k].seq += (uint32_t)(k * 1300);
        s[k].off = k * 1300;
        s[k].ipid = (uint16_t)(s[k].ipid + k);
        s[k].saddr = v == 4 ? s4 : s6;
        s[k].daddr = v == 4 ? d4 : d6;
        s[k].ts = !udp;
      }
      s[n - 1].payload = 777;
      forward_one(&b, &c, s, n);
    }
  tun_close(&c);
  tun_close(&b);
}

/* Device flags: one queue without vnet is tun_open's device; more queues
 * share the name; too many are refused. */
static void test_open_queues(void **state) {
  (void)state;
  if (!usable) skip();
  char err[256] = "";
  enter(ns_a);
  struct tun_dev d;
  assert_ok(tun_open_queues("ztoffq", 4, 1, &d, err, sizeof(err)));
  assert_int_equal(d.nqueues, 4);
  for (unsigned i = 0; i < 4; i++) {
    assert_true(d.queues[i] >= 0);
    for (unsigned j = 0; j < i; j++) assert_int_not_equal(d.queues[i], d.queues[j]);
  }
  assert_ok(tun_set_mtu_up(&d, MTU, err, sizeof(err)));
  int q3 = d.queues[3];
  tun_close(&d);
  assert_int_equal(d.fd, -1);
  assert_int_equal(d.nqueues, 0);
  assert_int_equal(fcntl(q3, F_GETFD), -1); /* every queue closed */
  assert_int_equal(tun_open_queues("ztoffq", TUN_MAX_QUEUES + 1, 0, &d, err,
                                   sizeof(err)),
                   0);
  assert_non_null(strstr(err, "queues"));
  assert_int_equal(tun_open_queues("ztoffq", 0, 0, &d, err, sizeof(err)), 0);
  assert_ok(tun_open("ztoffq", &d, err, sizeof(err)));
  assert_int_equal(d.nqueues, 1);
  assert_int_equal(d.vnet, 0);
  assert_int_equal(d.fd, d.queues[0]);
  tun_close(&d);
}

int main(void) {
  usable = geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0;
  if (usable) {
    /* two namespaces of our own; setns moves between them */
    if (unshare(CLONE_NEWNET) != 0) {
      fprintf(stderr, "test_tun_offload: unshare: %s\n", strerror(errno));
      return 1;
    }
    ns_a = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ns_a < 0 || unshare(CLONE_NEWNET) != 0) return 1;
    ns_b = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ns_b < 0) return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_queues),
      cmocka_unit_test(test_tcp_stream),
      cmocka_unit_test(test_udp_segments),
      cmocka_unit_test(test_forwarded_checksums),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
