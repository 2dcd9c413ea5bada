/* The floor: kill -> waitpid -> fork+execve -> the child's first stamp, all in
 * one minimal C process. Usage: floor STAMP_CHILD FIFO SAMPLES [SPACING_MS];
 * the child writes "<pid> <ns> ..." lines to FIFO (bench/stamp.c with
 * STAMP_LOG=FIFO, or bench/stamp_child.c with STAMP_FIFO=FIFO). Prints one
 * latency in nanoseconds per line. With SPACING_MS, the child has been up that
 * long before each kill (the "spaced" case). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static pid_t spawn(const char* prog) {
  pid_t pid = fork();
  if (pid == 0) {
    execl(prog, prog, (char*)NULL);
    _exit(127);
  }
  return pid;
}

static long long read_stamp(FILE* fifo) {
  char* line = NULL;
  size_t cap = 0;
  int pid;
  long long ns;
  if (getline(&line, &cap, fifo) < 0 || sscanf(line, "%d %lld", &pid, &ns) != 2) exit(5);
  free(line);
  return ns;
}

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) return 2;
  int fd = open(argv[2], O_RDWR | O_CLOEXEC);
  if (fd < 0) return 3;
  FILE* fifo = fdopen(fd, "r");
  setvbuf(fifo, NULL, _IONBF, 0);
  int samples = atoi(argv[3]);
  long spacing_ms = argc == 5 ? atol(argv[4]) : 0;
  pid_t pid = spawn(argv[1]);
  read_stamp(fifo);
  for (int i = 0; i < samples; i++) {
    if (spacing_ms > 0) {
      struct timespec d = {spacing_ms / 1000, (spacing_ms % 1000) * 1000000L};
      nanosleep(&d, NULL);
    }
    long long t0 = now_ns();
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    pid = spawn(argv[1]);
    printf("%lld\n", read_stamp(fifo) - t0);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return 0;
}
