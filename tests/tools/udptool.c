/* ztvpn-udptool: raw UDP datagrams for the data-channel integration tests
 * (tests/integration/test_udp*.sh). It captures what a client really sent
 * and throws it, or plausible garbage, back at the concentrator, so a test
 * can check that nothing unauthenticated is answered, forwarded or lets the
 * session move.
 *
 *   ztvpn-udptool capture IFACE PORT COUNT FILE [TIMEOUT_S]
 *       save the UDP payloads of the first COUNT IPv4 datagrams to PORT seen
 *       on IFACE (an Ethernet device: a bridge, a veth; AF_PACKET, in the
 *       caller's namespace) to FILE as records
 *       "u32 length (big endian) || payload"; exit 0 with COUNT, 1 when
 *       TIMEOUT_S (default 10) passed first. A UDP GSO super-packet counts
 *       as the datagrams it will be split into.
 *   ztvpn-udptool replay FILE HOST:PORT [WAIT_MS]
 *       send every record of FILE from one fresh unconnected socket
 *   ztvpn-udptool spray HOST:PORT COUNT SEED [WAIT_MS]
 *       COUNT random datagrams of 0..1500 bytes, one in four starting with a
 *       plausible data header (type 1, epoch 0, random index and counter)
 *   ztvpn-udptool sendhdr HOST:PORT INDEX COUNT [EPOCH [WAIT_MS]]
 *       COUNT 64-byte datagrams with a well-formed header for receiver
 *       INDEX and EPOCH (default 0), counters from 2^23 up (new to any test
 *       session, below the reject limit), and random bytes as ciphertext:
 *       each must reach the AEAD open and fail it.
 *
 * The senders then wait WAIT_MS (default 1000) and print
 * "sent N replies M", M being the datagrams that came back to their socket.
 * Exit: 0 done, 1 a system call failed or capture timed out, 2 usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bytestring.h>
#include <openssl/rand.h>

/* The datagram header of common/PROTOCOL.md: type, epoch, reserved,
 * receiver index, counter. */
#define DGRAM_HDR 16
#define DGRAM_TYPE_DATA 1
#define MAX_PAYLOAD 65507
#define MAX_COUNT 1000000
#define MAX_WAIT_MS 60000
#define MAX_TIMEOUT_S 600
#define MAX_FILE (64u << 20)
#define SPRAY_MAX_LEN 1500
#define SENDHDR_LEN 64
#define SENDHDR_COUNTER0 (UINT64_C(1) << 23)
/* Paced sends: the concentrator's socket buffer must never overflow, so that
 * every datagram reaches it and the test can count each drop exactly. */
#define PACE_BURST 4
#define PACE_GAP_NS 1000000L
/* Not in every linux/virtio_net.h (it is the kernel's value since 5.0). */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

static const char usage_text[] =
    "usage: ztvpn-udptool capture IFACE PORT COUNT FILE [TIMEOUT_S]\n"
    "       ztvpn-udptool replay FILE HOST:PORT [WAIT_MS]\n"
    "       ztvpn-udptool spray HOST:PORT COUNT SEED [WAIT_MS]\n"
    "       ztvpn-udptool sendhdr HOST:PORT INDEX COUNT [EPOCH [WAIT_MS]]\n";

static int usage(const char *why) {
  if (why) fprintf(stderr, "ztvpn-udptool: %s\n", why);
  fputs(usage_text, stderr);
  return 2;
}

/* Parses a whole decimal (or 0x hex) number in [lo, hi]. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-') return 0;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

/* HOST:PORT with a numeric IPv4 host, or [IPv6]:PORT. */
static int parse_endpoint(const char *s, struct sockaddr_storage *ss, socklen_t *len) {
  char host[INET6_ADDRSTRLEN + 2];
  const char *colon = strrchr(s, ':');
  uint64_t port;
  if (!colon || !parse_u64(colon + 1, 1, 65535, &port)) return 0;
  size_t hl = (size_t)(colon - s);
  int v6 = hl >= 2 && s[0] == '[' && s[hl - 1] == ']';
  if (v6) {
    s++;
    hl -= 2;
  }
  if (hl == 0 || hl >= sizeof(host)) return 0;
  memcpy(host, s, hl);
  host[hl] = '\0';
  memset(ss, 0, sizeof(*ss));
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    *len = sizeof(*a);
    return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  *len = sizeof(*a);
  return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* splitmix64: a reproducible stream from the SEED of the command line. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* --- sending ------------------------------------------------------------- */

struct sender {
  int fd;
  struct sockaddr_storage dst;
  socklen_t dstlen;
  uint64_t sent, failed, replies;
};

/* Counts the datagrams waiting on the socket. Called between bursts too: a
 * reply that arrived while sending must not be lost to a full buffer. */
static int sender_drain(struct sender *s) {
  uint8_t buf[2048];
  for (int i = 0; i < 4096; i++) {
    ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n >= 0) s->replies++;
    else return errno == EAGAIN || errno == EINTR;
  }
  return 1;
}

static int sender_open(struct sender *s, const char *endpoint) {
  memset(s, 0, sizeof(*s));
  s->fd = -1;
  if (!parse_endpoint(endpoint, &s->dst, &s->dstlen)) return 0;
  /* Unconnected and bound by the first sendto to a fresh ephemeral port: a
   * source the concentrator has never seen authenticated. */
  s->fd = socket(s->dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s->fd < 0) {
    perror("ztvpn-udptool: socket");
    return -1;
  }
  return 1;
}

static void sender_send(struct sender *s, const uint8_t *p, size_t len) {
  if (sendto(s->fd, p, len, 0, (const struct sockaddr *)&s->dst, s->dstlen) == (ssize_t)len) {
    s->sent++;
  } else {
    if (s->failed++ == 0) perror("ztvpn-udptool: sendto");
  }
  if ((s->sent + s->failed) % PACE_BURST == 0) {
    struct timespec gap = {0, PACE_GAP_NS};
    nanosleep(&gap, NULL);
    sender_drain(s);
  }
}

/* Counts what comes back within wait_ms, prints the summary line and
 * returns the exit status. */
static int sender_finish(struct sender *s, uint64_t wait_ms) {
  uint64_t deadline = now_ms() + wait_ms;
  for (;;) {
    uint64_t now = now_ms();
    if (now >= deadline) break;
    struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
    int r = poll(&pfd, 1, (int)(deadline - now));
    if (r < 0 && errno != EINTR) break;
    if (r > 0 && !sender_drain(s)) break;
  }
  printf("sent %llu replies %llu\n", (unsigned long long)s->sent,
         (unsigned long long)s->replies);
  if (s->failed) fprintf(stderr, "ztvpn-udptool: %llu sends failed\n", (unsigned long long)s->failed);
  close(s->fd);
  return s->failed ? 1 : 0;
}

static int wait_arg(int argc, char **argv, int i, uint64_t *wait_ms) {
  *wait_ms = 1000;
  return i >= argc || parse_u64(argv[i], 0, MAX_WAIT_MS, wait_ms);
}

static int cmd_replay(int argc, char **argv) {
  uint64_t wait_ms;
  if (argc < 4 || argc > 5 || !wait_arg(argc, argv, 4, &wait_ms)) return usage(NULL);
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  uint8_t *data = malloc(MAX_FILE);
  size_t len = data ? fread(data, 1, MAX_FILE, f) : 0;
  int too_big = data && len == MAX_FILE && fgetc(f) != EOF;
  fclose(f);
  if (!data || too_big) {
    fprintf(stderr, "ztvpn-udptool: %s: %s\n", argv[2], data ? "larger than 64 MiB" : "out of memory");
    free(data);
    return 1;
  }
  struct sender s;
  int r = sender_open(&s, argv[3]);
  if (r <= 0) {
    free(data);
    return r == 0 ? usage("bad HOST:PORT") : 1;
  }
  CBS file, rec;
  uint32_t reclen;
  CBS_init(&file, data, len);
  while (CBS_len(&file) > 0) {
    if (!CBS_get_u32(&file, &reclen) || reclen > MAX_PAYLOAD ||
        !CBS_get_bytes(&file, &rec, reclen)) {
      fprintf(stderr, "ztvpn-udptool: %s: bad record after %llu\n", argv[2],
              (unsigned long long)(s.sent + s.failed));
      free(data);
      close(s.fd);
      return 1;
    }
    sender_send(&s, CBS_data(&rec), CBS_len(&rec));
  }
  free(data);
  return sender_finish(&s, wait_ms);
}

static int cmd_spray(int argc, char **argv) {
  uint64_t count, seed, wait_ms;
  if (argc < 5 || argc > 6 || !parse_u64(argv[3], 1, MAX_COUNT, &count) ||
      !parse_u64(argv[4], 0, UINT64_MAX, &seed) || !wait_arg(argc, argv, 5, &wait_ms))
    return usage(NULL);
  struct sender s;
  int r = sender_open(&s, argv[2]);
  if (r <= 0) return r == 0 ? usage("bad HOST:PORT") : 1;
  uint8_t buf[SPRAY_MAX_LEN];
  for (uint64_t i = 0; i < count; i++) {
    size_t len = (size_t)(rng_next(&seed) % (SPRAY_MAX_LEN + 1));
    for (size_t j = 0; j < len; j += 8) {
      uint64_t v = rng_next(&seed);
      memcpy(buf + j, &v, len - j < 8 ? len - j : 8);
    }
    if (len >= DGRAM_HDR && rng_next(&seed) % 4 == 0) {
      CBB hdr;
      CBB_init_fixed(&hdr, buf, DGRAM_HDR);
      CBB_add_u8(&hdr, DGRAM_TYPE_DATA);
      CBB_add_u8(&hdr, 0);
      CBB_add_u16(&hdr, 0);
      CBB_add_u32(&hdr, (uint32_t)rng_next(&seed));
      CBB_add_u64(&hdr, rng_next(&seed));
      CBB_cleanup(&hdr);
    }
    sender_send(&s, buf, len);
  }
  return sender_finish(&s, wait_ms);
}

static int cmd_sendhdr(int argc, char **argv) {
  uint64_t index, count, epoch = 0, wait_ms;
  if (argc < 5 || argc > 7 || !parse_u64(argv[3], 0, UINT32_MAX, &index) ||
      !parse_u64(argv[4], 1, MAX_COUNT, &count) ||
      (argc > 5 && !parse_u64(argv[5], 0, 255, &epoch)) || !wait_arg(argc, argv, 6, &wait_ms))
    return usage(NULL);
  struct sender s;
  int r = sender_open(&s, argv[2]);
  if (r <= 0) return r == 0 ? usage("bad HOST:PORT") : 1;
  uint8_t buf[SENDHDR_LEN];
  for (uint64_t i = 0; i < count; i++) {
    CBB d;
    CBB_init_fixed(&d, buf, sizeof(buf));
    CBB_add_u8(&d, DGRAM_TYPE_DATA);
    CBB_add_u8(&d, (uint8_t)epoch);
    CBB_add_u16(&d, 0);
    CBB_add_u32(&d, (uint32_t)index);
    CBB_add_u64(&d, SENDHDR_COUNTER0 + i);
    CBB_cleanup(&d);
    RAND_bytes(buf + DGRAM_HDR, sizeof(buf) - DGRAM_HDR);
    sender_send(&s, buf, sizeof(buf));
  }
  return sender_finish(&s, wait_ms);
}

/* --- capture ------------------------------------------------------------- */

struct capture {
  FILE *out;
  uint16_t port;
  uint64_t want, got;
};

static int save(struct capture *c, CBS *payload) {
  uint8_t lenbuf[4];
  CBB b;
  CBB_init_fixed(&b, lenbuf, sizeof(lenbuf));
  int ok = CBB_add_u32(&b, (uint32_t)CBS_len(payload));
  CBB_cleanup(&b);
  if (!ok || fwrite(lenbuf, 1, 4, c->out) != 4 ||
      fwrite(CBS_data(payload), 1, CBS_len(payload), c->out) != CBS_len(payload))
    return 0;
  c->got++;
  return 1;
}

/* One frame from the packet socket: virtio_net_hdr, Ethernet, IPv4, UDP.
 * Returns 0 only on a write error; frames that are not ours are skipped. */
static int capture_frame(struct capture *c, const uint8_t *frame, size_t len) {
  struct virtio_net_hdr vh;
  CBS f, ip, opts, pkt, payload, seg;
  uint16_t ethertype, tot, frag, sport, dport, ulen;
  uint8_t vihl, proto;
  if (len < sizeof(vh)) return 1;
  memcpy(&vh, frame, sizeof(vh)); /* from the kernel, in host order */
  CBS_init(&f, frame + sizeof(vh), len - sizeof(vh));
  if (!CBS_skip(&f, 12) || !CBS_get_u16(&f, &ethertype) || ethertype != ETH_P_IP) return 1;
  ip = f;
  if (!CBS_get_u8(&ip, &vihl) || vihl >> 4 != 4 || (vihl & 15) < 5 || !CBS_skip(&ip, 1) ||
      !CBS_get_u16(&ip, &tot) || !CBS_skip(&ip, 2) || !CBS_get_u16(&ip, &frag) ||
      !CBS_skip(&ip, 1) || !CBS_get_u8(&ip, &proto) || !CBS_skip(&ip, 10) ||
      !CBS_get_bytes(&ip, &opts, ((size_t)(vihl & 15) - 5) * 4))
    return 1;
  /* Not UDP, or a fragment: a datagram of ours never is one. */
  if (proto != IPPROTO_UDP || (frag & 0x3fff) != 0) return 1;
  /* The IPv4 total length cuts off Ethernet padding. */
  size_t iphl = (size_t)(vihl & 15) * 4;
  if (tot < iphl || !CBS_get_bytes(&f, &pkt, tot) || !CBS_skip(&pkt, iphl)) return 1;
  if (!CBS_get_u16(&pkt, &sport) || !CBS_get_u16(&pkt, &dport) || !CBS_get_u16(&pkt, &ulen) ||
      !CBS_skip(&pkt, 2) || dport != c->port)
    return 1;
  if (vh.gso_type != VIRTIO_NET_HDR_GSO_UDP_L4) {
    if (ulen < 8 || !CBS_get_bytes(&pkt, &payload, (size_t)ulen - 8)) return 1;
    return save(c, &payload);
  }
  /* A GSO super-packet: its payload is the datagrams, gso_size each. */
  size_t seglen = vh.gso_size;
  if (seglen == 0) return 1;
  while (CBS_len(&pkt) > 0 && c->got < c->want) {
    size_t n = CBS_len(&pkt) < seglen ? CBS_len(&pkt) : seglen;
    if (!CBS_get_bytes(&pkt, &seg, n) || !save(c, &seg)) return 0;
  }
  return 1;
}

static int cmd_capture(int argc, char **argv) {
  uint64_t port, count, timeout_s = 10;
  if (argc < 6 || argc > 7 || !parse_u64(argv[3], 1, 65535, &port) ||
      !parse_u64(argv[4], 1, MAX_COUNT, &count) ||
      (argc > 6 && !parse_u64(argv[6], 1, MAX_TIMEOUT_S, &timeout_s)))
    return usage(NULL);
  unsigned ifindex = if_nametoindex(argv[2]);
  if (ifindex == 0) return usage("no such interface");
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IP));
  int one = 1;
  struct sockaddr_ll sll = {.sll_family = AF_PACKET,
                            .sll_protocol = htons(ETH_P_IP),
                            .sll_ifindex = (int)ifindex};
  /* The vnet header says when a frame is a UDP GSO super-packet, which
   * stays whole on the way from the laptop's veth to the bridge. */
  if (fd < 0 || setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) != 0 ||
      bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
    perror("ztvpn-udptool: packet socket");
    if (fd >= 0) close(fd);
    return 1;
  }
  struct capture c = {.out = fopen(argv[5], "wb"), .port = (uint16_t)port, .want = count};
  if (!c.out) {
    perror(argv[5]);
    close(fd);
    return 1;
  }
  printf("capturing on %s udp port %llu\n", argv[2], (unsigned long long)port);
  fflush(stdout);
  static uint8_t frame[sizeof(struct virtio_net_hdr) + ETH_HLEN + 65535];
  uint64_t deadline = now_ms() + timeout_s * 1000;
  int ok = 1;
  while (ok && c.got < c.want) {
    uint64_t now = now_ms();
    if (now >= deadline) break;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, (int)(deadline - now));
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    ssize_t n = recv(fd, frame, sizeof(frame), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      perror("ztvpn-udptool: recv");
      break;
    }
    if ((size_t)n > sizeof(frame)) continue; /* cannot happen with a 64 KiB IP packet */
    ok = capture_frame(&c, frame, (size_t)n);
  }
  close(fd);
  if (fclose(c.out) != 0 || !ok) {
    perror(argv[5]);
    return 1;
  }
  printf("captured %llu of %llu\n", (unsigned long long)c.got, (unsigned long long)c.want);
  return c.got == c.want ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage(NULL);
  if (strcmp(argv[1], "capture") == 0) return cmd_capture(argc, argv);
  if (strcmp(argv[1], "replay") == 0) return cmd_replay(argc, argv);
  if (strcmp(argv[1], "spray") == 0) return cmd_spray(argc, argv);
  if (strcmp(argv[1], "sendhdr") == 0) return cmd_sendhdr(argc, argv);
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  return usage("unknown command");
}
