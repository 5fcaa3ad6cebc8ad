/*
 * The ceiling for `ztroot bench relay`: a minimal UDP forwarder in C, compiled by the benchmark into a temp dir
 * when a C compiler exists. Written for ztroot from the Linux man pages (recvmmsg(2), sendmmsg(2)); it does what
 * the root's relay step does and nothing else: for each datagram of a recvmmsg batch, look the 5-byte destination
 * (bytes 8..12) up in an open-addressing table of known peers, bump the hop count (low 3 bits of byte 18), and send
 * the batch to the peers' addresses with one sendmmsg. Every known peer's address is the sink (one ip:port), as in
 * the benchmark. Unknown destinations are dropped.
 *
 *   relay-forwarder <sink port> <addresses file>   prints "port <n>" once bound to 127.0.0.1, then forwards
 *                                                   until killed
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SLOT 2048
#define TABLE (1 << 14)

static uint64_t keys[TABLE];

static uint32_t slot_of(uint64_t a) { return (uint32_t)((a * 0x9e3779b97f4a7c15ull) >> 50) & (TABLE - 1); }

static void put(uint64_t a) {
  uint32_t i = slot_of(a);
  while (keys[i] != 0 && keys[i] != a) i = (i + 1) & (TABLE - 1);
  keys[i] = a;
}

static int known(uint64_t a) {
  uint32_t i = slot_of(a);
  while (keys[i] != 0) {
    if (keys[i] == a) return 1;
    i = (i + 1) & (TABLE - 1);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: relay-forwarder <sink port> <addresses file>\n");
    return 2;
  }
  FILE* f = fopen(argv[2], "r");
  if (f == NULL) {
    perror(argv[2]);
    return 1;
  }
  char line[64];
  while (fgets(line, sizeof line, f) != NULL) {
    uint64_t a = strtoull(line, NULL, 16);
    if (a != 0) put(a);
  }
  fclose(f);

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  struct sockaddr_in me = {0};
  me.sin_family = AF_INET;
  me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr*)&me, sizeof me) < 0) {
    perror("bind");
    return 1;
  }
  socklen_t len = sizeof me;
  getsockname(fd, (struct sockaddr*)&me, &len);
  printf("port %d\n", ntohs(me.sin_port));
  fflush(stdout);

  struct sockaddr_in sink = {0};
  sink.sin_family = AF_INET;
  sink.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sink.sin_port = htons((uint16_t)atoi(argv[1]));

  static uint8_t bufs[BATCH][SLOT];
  struct iovec riov[BATCH], tiov[BATCH];
  struct mmsghdr rx[BATCH], tx[BATCH];
  memset(rx, 0, sizeof rx);
  memset(tx, 0, sizeof tx);
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = bufs[i];
    riov[i].iov_len = SLOT;
    rx[i].msg_hdr.msg_iov = &riov[i];
    rx[i].msg_hdr.msg_iovlen = 1;
  }
  for (;;) {
    int n = recvmmsg(fd, rx, BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    int out = 0;
    for (int i = 0; i < n; i++) {
      uint8_t* p = bufs[i];
      unsigned l = rx[i].msg_len;
      if (l < 28) continue;
      uint64_t dest = ((uint64_t)p[8] << 32) | ((uint64_t)p[9] << 24) | ((uint64_t)p[10] << 16) | ((uint64_t)p[11] << 8) | p[12];
      if (!known(dest) || (p[18] & 7) >= 3) continue;
      p[18] = (uint8_t)((p[18] & 0xf8) | ((p[18] & 7) + 1));
      tiov[out].iov_base = p;
      tiov[out].iov_len = l;
      tx[out].msg_hdr.msg_name = &sink;
      tx[out].msg_hdr.msg_namelen = sizeof sink;
      tx[out].msg_hdr.msg_iov = &tiov[out];
      tx[out].msg_hdr.msg_iovlen = 1;
      out++;
    }
    for (int i = 0; i < out;) {
      int r = sendmmsg(fd, tx + i, out - i, 0);
      if (r <= 0) break; /* full send buffer: drop the rest, as the root does */
      i += r;
    }
  }
}
