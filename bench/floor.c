/* The floor: kill -> waitpid -> fork+execve -> the child's first stamp, all in
 * one minimal C process. Usage: floor STAMP_CHILD FIFO SAMPLES; prints one
 * latency in nanoseconds per line. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

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
  int pid;
  long long ns;
  if (fscanf(fifo, "%d %lld", &pid, &ns) != 2) exit(5);
  return ns;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  int fd = open(argv[2], O_RDWR | O_CLOEXEC);
  FILE* fifo = fdopen(fd, "r");
  setvbuf(fifo, NULL, _IONBF, 0);
  int samples = atoi(argv[3]);
  pid_t pid = spawn(argv[1]);
  read_stamp(fifo);
  for (int i = 0; i < samples; i++) {
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
