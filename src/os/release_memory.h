// Giving freed heap memory back to the kernel after a burst of allocations.
//
// Loading the configuration and booting the tree allocate far more than a
// running supervisor keeps (the TOML tree, the config's intermediate copies,
// per-start temporaries): with 10,000 children some 10 MB that malloc keeps
// resident in holes between live blocks, where its automatic trimming (which
// only cuts the top of the heap) cannot reach.
#pragma once

namespace otpsup {

// Returns the free pages of every malloc arena to the kernel (glibc's
// malloc_trim(0)). Costs a walk over the heap: call it once after such a
// burst (a boot), not per event.
void release_free_memory();

}  // namespace otpsup
