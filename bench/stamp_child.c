/* The supervised program of the benchmarks: the first thing it does is read
 * CLOCK_MONOTONIC; then it writes "<pid> <ns>\n" with one write(2) to the FIFO
 * named by $STAMP_FIFO and sleeps in pause(). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  const char* path = getenv("STAMP_FIFO");
  if (path == NULL) return 2;
  int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return 3;
  char line[64];
  int n = snprintf(line, sizeof line, "%d %lld\n", (int)getpid(),
                   (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
  if (write(fd, line, (size_t)n) != n) return 4;
  for (;;) pause();
}
