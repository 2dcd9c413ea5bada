// `otpsupd --pid-namespace`: the tree in its own PID namespace.
//
// enter_pid_namespace() splits the calling process in two:
//
//   outer otpsupd (the process the operator or the service manager started)
//   └── inner otpsupd: pid 1 of a new PID namespace, in its own mount
//       namespace with a fresh /proc; the root supervisor runs here
//
// The outer process is a thin parent: it forwards SIGTERM, SIGINT and SIGHUP
// to the inner init, relays its readiness (READY=1 to $NOTIFY_SOCKET from the
// outer pid, so systemd's default NotifyAccess=main accepts it; "ok\n" or the
// error to the background-mode pipe), sends STOPPING=1 when it forwards a
// SIGTERM or SIGINT or when the inner daemon writes "stopping\n" after its
// "ok\n" (an orderly shutdown however asked for), and exits with the inner's status
// (128 + signal when it was killed). The inner init has PR_SET_PDEATHSIG
// SIGKILL: when the outer process dies, even by SIGKILL, the init is killed
// and the kernel kills every process of the namespace with it.
//
// Privileges: CLONE_NEWPID needs CAP_SYS_ADMIN. Without it (not root), a new
// user namespace is made first that maps only the caller's uid and gid (so
// `user =`/`group =` of other ids cannot work there); that needs
// unprivileged user namespaces to be allowed by the kernel.
#pragma once

#include <string>

#include "os/service_notify.h"
#include "otpsup/unique_fd.h"

namespace otpsup {

struct PidNamespaceEntry {
  // true: this is the inner init: run the daemon with the fields below.
  // false: this is the outer process (or entering failed): _exit(exit_code)
  // without forking again (a fork would land in the dead namespace).
  bool inner = false;
  int exit_code = 0;
  UniqueFd outer_proc;  // inner: the operator's /proc (for PidView)
  int ready_fd = -1;    // inner: write "ok\n" once the tree is up, or the error
};

// REQUIRES: single-threaded caller. `ready_fd` is the background-mode pipe
// (-1 in the foreground); the outer process writes the inner's readiness
// there and closes it. `notifier` is used by the outer process only.
// SIGTERM, SIGINT and SIGHUP are left blocked in the inner init: the daemon
// unblocks them once its handlers are installed (a pid 1 drops signals that
// arrive while it has no handler; blocked ones stay pending).
// Errors (no privilege, kernel without namespaces) are printed to stderr and
// reported through ready_fd; the result is then outer with exit code 2.
PidNamespaceEntry enter_pid_namespace(const ServiceNotifier& notifier, int ready_fd);

// The signals the daemon handles: blocked by main before it forks or enters a
// namespace, unblocked by the daemon once its handlers are installed.
void block_daemon_signals();
void unblock_daemon_signals();

}  // namespace otpsup
