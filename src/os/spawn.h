// Spawning one worker process: fork, child setup, execve.
//
// The child does only async-signal-safe work between fork and execve: reset
// signal dispositions and mask, setsid (own session and process group, so it
// can never signal its supervisor's group), stdin from /dev/null, stdout,
// stderr and fd 3 as given, chdir, umask, setrlimit, setpriority (nice),
// setgroups -> setgid -> setuid, PR_SET_NO_NEW_PRIVS, and last
// PR_SET_PDEATHSIG (a credential change clears it) followed by a getppid()
// check against the pid saved before fork, mark every fd >= 3 (>= 4 with an
// fd 3) close-on-exec, execve. Any failure is reported back over a
// close-on-exec pipe (EOF means execve succeeded), so "No such file or
// directory" or "setuid(nobody): Operation not permitted" is a start error
// with a message, never a silent partial start. Signals are blocked in the
// parent around fork. Everything the child needs (argv, envp, uid, gid,
// supplementary groups, limits) is computed before fork — user and group
// names are resolved there (NSS) — so the child never allocates.
#pragma once

#include <signal.h>

#include <string>

#include "otpsup/spec.h"
#include "otpsup/status.h"

namespace otpsup {

// What a child gets from its supervisor besides its spec: descriptors (stdin
// is always /dev/null) and its parent-death signal.
struct ChildIo {
  // >= 0: becomes fd 3 of the child (a node's uplink, a worker's channel) and
  // stays open across execve; it is the only one beyond 0, 1, 2.
  int fd3 = -1;
  // What becomes fd 1 / fd 2: a descriptor (a log pipe), kInherit (the
  // supervisor's own) or kDevNull.
  static constexpr int kInherit = -1;
  static constexpr int kDevNull = -2;
  int out = kInherit;
  int err = kInherit;
  // The child's PR_SET_PDEATHSIG: SIGKILL for workers; node processes get a
  // signal they catch, to take their own children down before they exit.
  int death_signal = SIGKILL;
  // >= 0: becomes fd `ready_fd_number` (>= 3, not 3 when fd3 is used) of the
  // child and stays open across execve: the write end of its ready pipe
  // (ready = { fd = N }). REQUIRES: ready_fd_number < 256.
  int ready_fd = -1;
  int ready_fd_number = -1;
};

// Starts `spec` (a worker, or a node process with the node's command). The
// spec's `user`/`group` are resolved here, before fork. `child_path`
// ("root/counter1") is exported to the child as OTPSUP_CHILD_PATH. On
// success sets *pid and returns ok; on failure returns errors such as
// "chdir: /x: No such file or directory", "exec: /bin/x: Permission denied",
// "user \"x\" does not exist", "setuid(nobody): Operation not permitted",
// "setrlimit(nofile): Operation not permitted", and leaves no process behind
// (a child that failed before execve has been reaped).
Status spawn_worker(const ChildSpec& spec, const std::string& child_path, int* pid,
                    const ChildIo& io = {});

}  // namespace otpsup
