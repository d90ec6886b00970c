/* gso_bench: the cost of the TUN offload paths per 64 KiB super-packet:
 * zt_gso_split (segments and every checksum) and zt_gro_coalesce of the
 * segments back into one super-packet, for TCPv4, TCPv6 and UDPv4 (USO) at
 * the segment sizes of a 1400-byte tunnel MTU, and the internet checksum
 * alone. Each figure is the median of 5 runs in CPU time of the thread
 * (CLOCK_THREAD_CPUTIME_ID). The coalesce figure excludes the copy that
 * restores the segments before each call (measured alone and subtracted).
 * It prints a table and judges nothing.
 *
 *   gso_bench
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "offload.h"
#include "superpkt.h"

#define RUNS 5
#define ITERS 4000
#define STRIDE 1536
#define HEADROOM 16

static uint8_t in[ZT_VNET_HDR_LEN + 65536];
static uint8_t segs[ZT_GSO_MAX_SEGS * STRIDE];
static uint8_t pristine[ZT_GSO_MAX_SEGS * STRIDE];
static size_t seglen[ZT_GSO_MAX_SEGS];
static struct zt_gro_pkt pkts[ZT_GSO_MAX_SEGS];
static struct iovec iov[ZT_GSO_MAX_SEGS];
static volatile uint64_t sink;

static double cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v) {
  qsort(v, RUNS, sizeof(*v), cmp);
  return v[RUNS / 2];
}

static void reset_pkts(int n) {
  for (int i = 0; i < n; i++) {
    pkts[i].data = segs + (size_t)i * STRIDE + HEADROOM;
    pkts[i].len = seglen[i];
    pkts[i].cap = (size_t)(segs + sizeof(segs) - pkts[i].data);
  }
}

static void bench(const char *name, const struct sp_spec *s, int uso) {
  size_t len = sp_build_super(s, in);
  int n = zt_gso_split(in, len, segs, STRIDE, HEADROOM, ZT_GSO_MAX_SEGS, seglen);
  if (n <= 0) {
    fprintf(stderr, "%s: split refused the super-packet\n", name);
    exit(1);
  }
  size_t used = (size_t)n * STRIDE;
  memcpy(pristine, segs, used);
  reset_pkts(n);
  if (zt_gro_coalesce(pkts, (size_t)n, uso, iov) != 1) {
    fprintf(stderr, "%s: coalesce did not give one packet\n", name);
    exit(1);
  }
  double split_ns[RUNS], co_ns[RUNS];
  for (int r = 0; r < RUNS; r++) {
    double t0 = cpu_ns();
    for (int i = 0; i < ITERS; i++)
      sink += (uint64_t)zt_gso_split(in, len, segs, STRIDE, HEADROOM,
                                     ZT_GSO_MAX_SEGS, seglen);
    double t1 = cpu_ns();
    for (int i = 0; i < ITERS; i++) {
      memcpy(segs, pristine, used);
      reset_pkts(n);
      sink += zt_gro_coalesce(pkts, (size_t)n, uso, iov);
    }
    double t2 = cpu_ns();
    for (int i = 0; i < ITERS; i++) {
      memcpy(segs, pristine, used);
      reset_pkts(n);
      sink += pkts[0].len;
    }
    double t3 = cpu_ns();
    split_ns[r] = (t1 - t0) / ITERS;
    co_ns[r] = ((t2 - t1) - (t3 - t2)) / ITERS;
  }
  double sp = median(split_ns), co = median(co_ns);
  printf("%-8s %6zu %4d %6u %10.0f %8.1f %12.0f %8.1f\n", name,
         len - ZT_VNET_HDR_LEN, n, s->gso_size, sp,
         (double)(len - ZT_VNET_HDR_LEN) * 8 / sp, co,
         (double)(len - ZT_VNET_HDR_LEN) * 8 / co);
}

static void bench_csum(void) {
  double v[RUNS];
  for (int r = 0; r < RUNS; r++) {
    double t0 = cpu_ns();
    for (int i = 0; i < ITERS; i++) sink += zt_csum_add(0, in, 65536);
    v[r] = (cpu_ns() - t0) / ITERS;
  }
  double m = median(v);
  printf("zt_csum_add over 64 KiB: %.0f ns (%.1f GB/s)\n", m, 65536 / m);
}

int main(void) {
  printf("%-8s %6s %4s %6s %10s %8s %12s %8s\n", "packet", "bytes", "segs",
         "gso", "split ns", "Gbit/s", "coalesce ns", "Gbit/s");
  /* 64 KiB IP packets: the largest a super-packet can be */
  struct sp_spec t4 = sp_tcp(4, 65535 - 40 - 12, 1348);
  t4.ts = 1;
  bench("tcp4", &t4, 0);
  struct sp_spec t6 = sp_tcp(6, 65535 - 40 - 12, 1328);
  t6.ts = 1;
  t6.payload = 65535 - 40 - 32;
  bench("tcp6", &t6, 0);
  struct sp_spec u4 = sp_udp(4, 65535 - 28, 1372);
  bench("udp4", &u4, 1);
  bench_csum();
  return 0;
}
