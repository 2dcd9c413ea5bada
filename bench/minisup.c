/* The floor for many children: a minimal C supervisor. Usage: minisup STAMP N [spawn].
 * Forks and execs N children (STAMP c0 ... STAMP cN-1), restarts any child that
 * dies, and on SIGTERM sends SIGTERM to every child, reaps them all and exits
 * 0. One process, one signalfd, no timers: what any supervisor must at least
 * do for cold start, mass restart and orderly stop.
 * With "spawn", each child is made with posix_spawn, which returns only once
 * the child's execve has succeeded (or with its error): the floor of a
 * supervisor that knows a child started before it starts the next, as OTP's
 * start order needs. Plain fork goes on while the child is still exec'ing. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
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

extern char** environ;
static int use_posix_spawn;
static posix_spawnattr_t attr;

static pid_t spawn(int i) {
  if (use_posix_spawn) {
    pid_t pid = -1;
    char* args[] = {prog, names[i], NULL};
    return posix_spawn(&pid, prog, NULL, &attr, args, environ) == 0 ? pid : -1;
  }
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
  if (argc != 3 && !(argc == 4 && strcmp(argv[3], "spawn") == 0)) return 2;
  prog = argv[1];
  n = atoi(argv[2]);
  use_posix_spawn = argc == 4;
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
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
