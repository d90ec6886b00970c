/* ztvpn-ctl: sends one request to the control socket of ztvpn-server or
 * ztvpn-client and prints the answer (common/ctl/README.md). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "control.h"
#include "timers.h"

#define DEFAULT_SOCKET "/run/ztvpn/server.sock"
#define TIMEOUT_MS 5000
/* The status line; a reload error carries "FILE:LINE: message". */
#define MAX_STATUS_LINE 8192

static void usage(FILE *f) {
  fprintf(f,
          "usage: ztvpn-ctl [-s SOCKET] [--json] COMMAND [ARGS]\n"
          "  -s, --socket SOCKET  control socket (default " DEFAULT_SOCKET ")\n"
          "  -j, --json           answer in JSON\n"
          "  -h, --help           this help\n"
          "  -V, --version        print the version\n"
          "commands:\n"
          "  status               state and counters (server and client)\n"
          "  sessions             established sessions (server)\n"
          "  kill id N            end session N (server)\n"
          "  kill user NAME       end every session of user NAME (server)\n"
          "  kill device NAME     end every session of device NAME (server)\n"
          "  reload               re-read the CRLs and the policy (server)\n"
          "  metrics              counters in the Prometheus text format (server;\n"
          "                       no --json)\n");
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...) {
  va_list ap;
  fputs("ztvpn-ctl: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(code);
}

/* Builds the request line from the command words, validated exactly as the
 * daemon will parse it. Exits 2 on a usage error. */
static void make_request(int json, int argc, char **argv, uint8_t **out, size_t *out_len) {
  static const struct {
    const char *cmd;
    int nargs;
  } cmds[] = {{"status", 0}, {"sessions", 0}, {"reload", 0}, {"kill", 2}, {"metrics", 0}};
  char line[ZT_CTL_MAX_REQUEST + 1], err[128];
  struct zt_ctl_request req;
  size_t i, n;
  if (argc < 1) {
    usage(stderr);
    exit(2);
  }
  for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
    if (strcmp(argv[0], cmds[i].cmd) == 0) break;
  if (i == sizeof(cmds) / sizeof(cmds[0])) die(2, "unknown command \"%s\" (-h for help)", argv[0]);
  if (argc - 1 != cmds[i].nargs)
    die(2, "%s takes %s", argv[0],
        cmds[i].nargs ? "two arguments: id N, user NAME or device NAME" : "no arguments");
  n = (size_t)snprintf(line, sizeof(line), "%s", json ? "json" : "text");
  for (int a = 0; a < argc && n < sizeof(line); a++)
    n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", argv[a]);
  if (n + 1 >= sizeof(line)) die(2, "request too long");
  line[n++] = '\n';
  CBS in;
  CBS_init(&in, (const uint8_t *)line, n);
  if (!zt_ctl_request_parse(in, &req, err, sizeof(err))) die(2, "%s", err);
  CBB cbb;
  if (!CBB_init(&cbb, ZT_CTL_MAX_REQUEST) || !zt_ctl_request_build(&cbb, &req) ||
      !CBB_finish(&cbb, out, out_len))
    die(2, "cannot build the request");
}

static int remaining(uint64_t deadline) {
  uint64_t now = zt_now_ms();
  return now >= deadline ? 0 : (int)(deadline - now);
}

/* Waits for |events| on |fd| until the deadline. Returns 1, or 0 on timeout. */
static int wait_fd(int fd, short events, uint64_t deadline) {
  struct pollfd p = {.fd = fd, .events = events};
  for (;;) {
    int ms = remaining(deadline);
    if (ms == 0) return 0;
    int rc = poll(&p, 1, ms);
    if (rc > 0) return 1;
    if (rc == 0) return 0;
    if (errno != EINTR) return 0;
  }
}

static int connect_to(const char *path, uint64_t deadline) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(addr.sun_path)) die(2, "socket path too long: %s", path);
  memcpy(addr.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die(1, "socket: %s", strerror(errno));
  /* A unix connect either completes at once or finds the backlog full
   * (EAGAIN): then try again until the deadline. */
  while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    if (errno == EINTR) continue;
    if (errno != EAGAIN || remaining(deadline) == 0)
      die(1, "cannot connect to %s: %s", path,
          errno == EAGAIN ? "busy (timed out)" : strerror(errno));
    usleep(20 * 1000);
  }
  return fd;
}

static void send_all(int fd, const uint8_t *p, size_t len, uint64_t deadline,
                     const char *path) {
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      if (!wait_fd(fd, POLLOUT, deadline)) die(1, "%s: timed out sending the request", path);
    } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      return; /* refused: the reason may be waiting to be read */
    } else if (!(n < 0 && errno == EINTR)) {
      die(1, "%s: send: %s", path, n < 0 ? strerror(errno) : "closed");
    }
  }
}

static void write_out(const char *p, size_t len) {
  if (len > 0 && fwrite(p, 1, len, stdout) != len) die(1, "writing the answer: %s", strerror(errno));
}

/* Reads the answer: the status line, then the body copied to stdout.
 * Returns the exit code. */
static int read_answer(int fd, uint64_t deadline, const char *path) {
  char status[MAX_STATUS_LINE];
  char buf[16384];
  size_t have = 0;
  int got_status = 0, code = 1;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!wait_fd(fd, POLLIN, deadline)) die(1, "%s: timed out waiting for the answer", path);
      continue;
    }
    /* A daemon that refuses closes without reading: a reset after its
     * answer ends the answer like a close. */
    if (n == 0 || (n < 0 && errno == ECONNRESET)) break;
    if (n < 0) die(1, "%s: %s", path, strerror(errno));
    size_t off = 0;
    if (!got_status) {
      for (; off < (size_t)n && buf[off] != '\n'; off++) {
        if (have == sizeof(status) - 1) die(1, "%s: answer line too long", path);
        status[have++] = buf[off];
      }
      if (off == (size_t)n) continue;
      off++; /* the newline */
      status[have] = '\0';
      got_status = 1;
      if (strcmp(status, "ok") == 0) {
        code = 0;
      } else if (strncmp(status, "error ", 6) == 0) {
        /* Only printable bytes reach the terminal. */
        for (char *c = status; *c; c++)
          if (*c < 0x20 || *c > 0x7e) *c = '?';
        fprintf(stderr, "ztvpn-ctl: %s\n", status + 6);
      } else {
        die(1, "%s: unexpected answer", path);
      }
    }
    write_out(buf + off, (size_t)n - off);
  }
  if (!got_status) die(1, "%s: connection closed without an answer", path);
  if (fflush(stdout) != 0) die(1, "writing the answer: %s", strerror(errno));
  return code;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {{"socket", required_argument, NULL, 's'},
                                           {"json", no_argument, NULL, 'j'},
                                           {"help", no_argument, NULL, 'h'},
                                           {"version", no_argument, NULL, 'V'},
                                           {NULL, 0, NULL, 0}};
  const char *path = DEFAULT_SOCKET;
  int json = 0, opt;
  /* "+": options end at the command, so a NAME may start with '-'. */
  while ((opt = getopt_long(argc, argv, "+s:jhV", longopts, NULL)) != -1) {
    switch (opt) {
      case 's': path = optarg; break;
      case 'j': json = 1; break;
      case 'h': usage(stdout); return 0;
      case 'V': printf("ztvpn-ctl %s\n", ZTVPN_VERSION); return 0;
      default: usage(stderr); return 2;
    }
  }
  uint8_t *req;
  size_t req_len;
  make_request(json, argc - optind, argv + optind, &req, &req_len);
  uint64_t deadline = zt_now_ms() + TIMEOUT_MS;
  int fd = connect_to(path, deadline);
  send_all(fd, req, req_len, deadline, path);
  OPENSSL_free(req);
  int code = read_answer(fd, deadline, path);
  close(fd);
  return code;
}
