// `otpsupd --node`: a sub-supervisor process started by its parent supervisor.
//
// The uplink (a socketpair) is fd 3. The first line on it is the init message
// {"t":"init","path","spec","library"}; then the node boots its children,
// reports {"t":"booted"} (or {"t":"boot_failed","reason"} and exits 4),
// sends every record, reply and state change up, and takes routed commands
// {"t":"command","c":{...}} from above. SIGTERM (its supervisor's stop
// signal) or the uplink closing starts an orderly shutdown of its subtree.
// Exit status: 0 after a shutdown, 3 when it gave up (its parent reads that
// as OTP's `shutdown`), 4 when its boot failed, 2 on a bad uplink, 5 when its
// supervisor died.
//
// Its parent-death signal (PR_SET_PDEATHSIG) is kNodeParentDeathSignal, not
// SIGKILL: when its supervisor dies (kill -9 of otpsupd), the node SIGKILLs
// every child's process group, and every orphan it adopts meanwhile, reaps
// them all and exits — so its workers' helpers go too, not only the workers
// (which have PDEATHSIG SIGKILL of their own). The same signal while its
// supervisor is alive (a stray `kill -HUP`) is ignored.
#pragma once

#include <signal.h>

#include <string>

namespace otpsup {

inline constexpr int kNodeParentDeathSignal = SIGHUP;
inline constexpr int kNodeParentDiedExitCode = 5;

int run_node_process(const std::string& self_exe);

}  // namespace otpsup
