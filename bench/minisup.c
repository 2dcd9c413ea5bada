/* The floor for many children: a minimal C supervisor. Usage: minisup STAMP N.
 * Forks and execs N children (STAMP c0 ... STAMP cN-1), restarts any child that
 * dies, and on SIGTERM sends SIGTERM to every child, reaps them all and exits
 * 0. One process, one signalfd, no timers: what any supervisor must at least
 * do for cold start, mass restart and orderly stop. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static char* prog;
static pid_t* pids;
static char** names;
static int n;

static pid_t spawn(int i) {
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execl(prog, prog, names[i], (char*)NULL);
    _exit(127);
  }
  return pid;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  prog = argv[1];
  n = atoi(argv[2]);
  pids = calloc((size_t)n, sizeof *pids);
  names = calloc((size_t)n, sizeof *names);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  for (int i = 0; i < n; i++) {
    names[i] = malloc(16);
    snprintf(names[i], 16, "c%d", i);
    pids[i] = spawn(i);
  }
  int stopping = 0, alive = n;
  for (;;) {
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof si) != sizeof si) {
      if (errno == EINTR) continue;
      return 3;
    }
    if (si.ssi_signo == SIGTERM && !stopping) {
      stopping = 1;
      for (int i = 0; i < n; i++)
        if (pids[i] > 0) kill(pids[i], SIGTERM);
    }
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
      for (int i = 0; i < n; i++) {
        if (pids[i] != pid) continue;
        if (stopping) {
          pids[i] = 0;
          alive--;
        } else {
          pids[i] = spawn(i);
        }
        break;
      }
    }
    if (stopping && alive == 0) return 0;
  }
}
