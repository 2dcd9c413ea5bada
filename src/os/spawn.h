// Spawning one worker process: fork, child setup, execve.
//
// The child does only async-signal-safe work between fork and execve: reset
// signal dispositions and mask, setsid (own session and process group, so it
// can never signal its supervisor's group), stdin from /dev/null, chdir,
// PR_SET_PDEATHSIG(SIGKILL) followed by a getppid() check against the pid
// saved before fork, mark every fd >= 3 close-on-exec (but those ChildIo
// passes: fd 3, the ready fd), execve. Any failure is
// reported back over a close-on-exec pipe (EOF means execve succeeded), so
// "No such file or directory" is a start error with a message, not a crash.
// Signals are blocked in the parent around fork. Everything the child needs
// (argv, envp) is built before fork: the child never allocates.
#pragma once

#include <string>

#include "otpsup/spec.h"
#include "otpsup/status.h"

namespace otpsup {

// Starts `spec` (a worker). `child_path` ("root/counter1") is exported to the
// child as OTPSUP_CHILD_PATH. On success sets *pid and returns ok; on failure
// returns "chdir /x: No such file or directory" or "exec /bin/x: Permission
// denied" style errors; no process is left behind (a child that failed
// before execve has been reaped).
//
// The descriptors a child gets besides stdin (always /dev/null).
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
  // >= 0: becomes fd `ready_fd_number` (>= 3, not 3 when fd3 is used) of the
  // child and stays open across execve: the write end of its ready pipe
  // (ready = { fd = N }). REQUIRES: ready_fd_number < 256.
  int ready_fd = -1;
  int ready_fd_number = -1;
};

Status spawn_worker(const ChildSpec& spec, const std::string& child_path, int* pid,
                    const ChildIo& io = {});

}  // namespace otpsup
