/* The supervised program of bench/run. The first thing it does is read
 * CLOCK_MONOTONIC; then it appends "<pid> <ns> <name>\n" with one write(2) to
 * the O_APPEND file (or FIFO) named by $STAMP_LOG and sleeps in pause(), so
 * it dies of SIGTERM or SIGKILL at once.
 *   stamp [NAME]     NAME defaults to the base name of the working directory
 *                    (runit, s6 and daemontools run it as ./run in its
 *                    service directory)
 *   stamp --exit     exits 1 at once without writing (a crash loop for the
 *                    history storm) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  if (argc > 1 && strcmp(argv[1], "--exit") == 0) return 1;
  const char* path = getenv("STAMP_LOG");
  if (path == NULL) return 2;
  char cwd[4096];
  const char* name = "?";
  if (argc > 1) {
    name = argv[1];
  } else if (getcwd(cwd, sizeof cwd) != NULL) {
    const char* slash = strrchr(cwd, '/');
    name = slash != NULL ? slash + 1 : cwd;
  }
  int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return 3;
  char line[4200];
  int n = snprintf(line, sizeof line, "%d %lld %s\n", (int)getpid(),
                   (long long)t.tv_sec * 1000000000LL + t.tv_nsec, name);
  if (n <= 0 || n >= (int)sizeof line) return 4;
  if (write(fd, line, (size_t)n) != n) return 5;
  close(fd);
  for (;;) pause();
}
