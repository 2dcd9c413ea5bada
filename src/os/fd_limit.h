// The descriptor limit (RLIMIT_NOFILE) of a supervisor process.
//
// A supervisor holds a few descriptors per child (log pipes, channels, a
// node's uplink), so 10,000 children need more than the usual soft limit of
// 1024. Supervisor processes raise their soft limit to the hard limit at
// start; their children get the soft limit the daemon was started with back
// (many programs still use select(2), which breaks above 1024), unless their
// spec sets `rlimits.nofile`.
#pragma once

#include <sys/resource.h>

namespace otpsup {

// Raises the soft RLIMIT_NOFILE to the hard one and remembers the original
// soft limit. Call once, early, in every supervisor process (root and node).
void raise_fd_limit();

// The soft limit children get: the one otpsupd was started with (the one the
// root saw, passed down to nodes through OTPSUP_NOFILE_SOFT). RLIM_INFINITY
// if raise_fd_limit() was not called.
rlim_t children_fd_soft_limit();

}  // namespace otpsup
