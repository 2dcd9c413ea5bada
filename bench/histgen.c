/* Writes a valid otpsup history log of N records (include/otpsup/history_format.h):
 * one JSON object per line, members seq, ts, boot, then the event's own, and
 * last the seal ,"crc":"xxxxxxxx"} where the CRC-32C covers the line from '{'
 * up to (not including) the ',' of the seal. The records alternate "exited"
 * and "restarted" of workers s0..s999 of root, as a restart storm writes them.
 * Usage: histgen PREFIX N MAXBYTES
 * writes PREFIX.0000, PREFIX.0001, ... oldest first, each file at most MAXBYTES
 * (as the writer rotates them); the caller renames them history.log.K ...
 * history.log. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint32_t table[256];

static void init_table(void) {
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = b;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ ((c & 1u) ? 0x82F63B78u : 0u);
    table[b] = c;
  }
}

static uint32_t crc32c(const char* p, size_t n) {
  uint32_t c = ~0u;
  while (n--) c = table[(c ^ (unsigned char)*p++) & 0xFFu] ^ (c >> 8);
  return ~c;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  const char* prefix = argv[1];
  long long n = atoll(argv[2]);
  long long max_bytes = atoll(argv[3]);
  static char buf[1 << 20];
  char path[4096];
  int part = 0;
  snprintf(path, sizeof path, "%s.%04d", prefix, part);
  FILE* f = fopen(path, "w");
  if (f == NULL) return 3;
  setvbuf(f, buf, _IOFBF, sizeof buf);
  long long size = 0;
  init_table();
  time_t base = time(NULL) - (time_t)(n / 1000) - 3600;
  const char* boot = "0123456789abcdef";
  char line[512];
  for (long long seq = 1; seq <= n; seq++) {
    long long us = (long long)base * 1000000LL + seq * 1000LL;
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[40];
    size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + k, sizeof ts - k, ".%06lldZ", us % 1000000);
    int child = (int)((seq / 2) % 1000);
    int pid = 100000 + (int)(seq % 400000);
    int len;
    if (seq % 2 == 1) {
      len = snprintf(line, sizeof line,
                     "{\"seq\":%lld,\"ts\":\"%s\",\"boot\":\"%s\",\"sup\":\"root\",\"child\":\"s%d\","
                     "\"event\":\"exited\",\"pid\":%d,\"reason\":\"killed by SIGKILL\",\"signal\":\"SIGKILL\"",
                     seq, ts, boot, child, pid);
    } else {
      len = snprintf(line, sizeof line,
                     "{\"seq\":%lld,\"ts\":\"%s\",\"boot\":\"%s\",\"sup\":\"root\",\"child\":\"s%d\","
                     "\"event\":\"restarted\",\"old_pid\":%d,\"new_pid\":%d,\"reason\":\"killed by SIGKILL\"",
                     seq, ts, boot, child, pid - 1, pid);
    }
    char rec[600];
    int rlen = snprintf(rec, sizeof rec, "%.*s,\"crc\":\"%08x\"}\n", len, line,
                        crc32c(line, (size_t)len));
    if (size > 0 && size + rlen > max_bytes) {
      if (fclose(f) != 0) return 4;
      snprintf(path, sizeof path, "%s.%04d", prefix, ++part);
      f = fopen(path, "w");
      if (f == NULL) return 3;
      setvbuf(f, buf, _IOFBF, sizeof buf);
      size = 0;
    }
    fwrite(rec, 1, (size_t)rlen, f);
    size += rlen;
  }
  return fclose(f) == 0 ? 0 : 4;
}
