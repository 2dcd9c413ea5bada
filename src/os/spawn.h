// Spawning one worker process: clone, child setup, execve.
//
// The child is made as glibc's posix_spawn makes it: clone(CLONE_VM |
// CLONE_VFORK) on a stack of its own, so no page table is copied however
// large the supervisor is, and the caller is suspended until the child has
// exec'd or exited. It also shares the descriptor table (CLONE_FILES) until,
// first thing, it makes its own holding only the supervisor's lowest
// descriptors (what it needs is lent to it through a few low slots), so no
// start copies or closes every descriptor of a large tree. (AddressSanitizer
// builds copy the memory instead: see spawn.cpp.)
//
// The child does only async-signal-safe work (raw system calls for the
// credentials) between clone and execve, touching nothing of the parent's
// memory but its precomputed plan and writing only its report: reset signal
// dispositions, then the mask (every signal is blocked from before clone
// until then, so no handler of the parent's runs in it), setsid (own session
// and process group, so it can never signal its supervisor's group), stdin
// from /dev/null, stdout, stderr and fd 3 as given, chdir, umask, setrlimit,
// setpriority (nice), setgroups -> setgid -> setuid, PR_SET_NO_NEW_PRIVS, and
// last PR_SET_PDEATHSIG (a credential change clears it) followed by a
// getppid() check against the pid saved before clone, mark every fd >= 3
// (>= 4 with an fd 3) close-on-exec, execve. A failure before execve is left
// in the report (memory shared with the parent) before the child exits, so
// "No such file or directory" or "setuid(nobody): Operation not permitted"
// is a start error with a message, never a silent partial start. Everything
// the child needs (argv, envp, uid, gid, supplementary groups, limits) is
// computed before clone — user and group names are resolved there (NSS) — so
// the child never allocates.
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
// spec's `user`/`group` are resolved here, before clone. `child_path`
// ("root/counter1") is exported to the child as OTPSUP_CHILD_PATH. On
// success sets *pid and returns ok; on failure returns errors such as
// "chdir: /x: No such file or directory", "exec: /bin/x: Permission denied",
// "user \"x\" does not exist", "setuid(nobody): Operation not permitted",
// "setrlimit(nofile): Operation not permitted", and leaves no process behind
// (a child that failed before execve has been reaped). Returns once the
// child has exec'd. Not reentrant from a signal handler; one call at a time
// per thread.
Status spawn_worker(const ChildSpec& spec, const std::string& child_path, int* pid,
                    const ChildIo& io = {});

}  // namespace otpsup
