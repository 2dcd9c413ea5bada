// The children of this process, as the kernel sees them — the supervisor's
// own workers and nodes, and the orphans of its tree it adopted as a
// subreaper (PR_SET_CHILD_SUBREAPER) — and the sweep that kills them all.
//
// Children are read from /proc/self/task/<pid>/children (the main thread's:
// a supervisor forks only on its main thread, and orphans are adopted by the
// main thread), or, when the kernel lacks that file, by scanning /proc/*/stat
// for our pid as parent. Racy by nature: a child may exit or be adopted while
// the list is read; callers hold the only right to reap, so a listed pid
// stays ours (alive or zombie) until they reap it.
#pragma once

#include <vector>

namespace otpsup {

// Calls `fn(pid, ctx)` for each child of this process. Async-signal-safe
// (open, read, getdents64, close only; no allocation). Returns false when
// /proc could not be read at all.
bool for_each_own_child(void (*fn)(int pid, void* ctx), void* ctx);

// The same, collected. Not async-signal-safe.
std::vector<int> own_children();

// SIGKILLs every child of this process and its process group, reaps, and
// repeats until the process has no child left — so the orphans adopted while
// it works (a killed child's descendants) are killed too. Blocks until then.
// Async-signal-safe: a node calls it from its parent-death signal handler.
// Any exit status is thrown away: the caller is going away, or has already
// handled every child it knew about.
void kill_and_reap_all_children();

}  // namespace otpsup
