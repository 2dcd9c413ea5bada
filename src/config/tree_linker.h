// Joins the sections into a tree: resolves every supervisor's `children`
// to the worker or supervisor of that name and checks what no single section
// can: names defined twice, undefined children, a child listed twice or
// under two supervisors, cycles, and that [supervisor.root] exists.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "diagnostics.h"
#include "drafts.h"
#include "otpsup/spec.h"

namespace otpsup::config {

struct LinkedTree {
  // Every supervisor by name, its children filled in start order (a nested
  // supervisor appears as its `as_child` ChildSpec).
  std::map<std::string, SupervisorSpec> supervisors;
  // Every worker and supervisor as the ChildSpec a parent holds for it.
  std::map<std::string, ChildSpec> child_specs;
};

// `supervisors` and `workers` are in file order. Problems go to `diag`;
// the result is meaningful only when none were reported.
LinkedTree link_tree(const std::vector<SupervisorDraft>& supervisors,
                     const std::vector<WorkerDraft>& workers, Diagnostics& diag);

}  // namespace otpsup::config
