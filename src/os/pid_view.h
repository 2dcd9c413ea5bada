// PidView: process ids as the operator sees them.
//
// `otpsupd --pid-namespace` runs the tree in its own PID namespace: inside,
// the root supervisor is pid 1 and every pid it gets from fork and waitpid is
// an inner pid. `status`, `info` and `ping` must show the pids an operator can
// `kill` from outside. A PidView holds a descriptor of the procfs mount the
// daemon was started under (the outer /proc, opened before the namespace and
// the fresh /proc were made) and translates through a pidfd: the "Pid:" line
// of /proc/self/fdinfo/<pidfd> is given in the PID namespace of the procfs
// instance it is read from (Linux 5.x and later).
//
// A default-constructed PidView translates nothing (plain mode, and PID 1
// mode under `unshare --pid --fork --mount-proc`, where the operator sits in
// the same namespace). Not thread-safe; the daemon uses it on its loop thread.
#pragma once

#include <optional>

#include "otpsup/unique_fd.h"

namespace otpsup {

class PidView {
 public:
  PidView() = default;
  // REQUIRES: outer_proc is an O_PATH (or readable) descriptor of a procfs
  // directory in which this process is visible.
  explicit PidView(UniqueFd outer_proc) : outer_proc_(std::move(outer_proc)) {}

  // True when pids are translated (the daemon runs in its own namespace).
  bool translating() const { return static_cast<bool>(outer_proc_); }

  // `pid` (of this process's namespace) as seen through the outer procfs.
  // Returns `pid` unchanged when not translating, when pid <= 0, and when the
  // process cannot be found (already reaped): callers pass live pids.
  int outside(int pid) const { return find_outside(pid).value_or(pid); }

  // As outside(), but nullopt when not translating or the process is gone
  // (a zombie is still found: its pid is not released until it is reaped).
  std::optional<int> find_outside(int pid) const;

 private:
  UniqueFd outer_proc_;
};

}  // namespace otpsup
