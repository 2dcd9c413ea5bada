// What the section readers hand to the tree linker: each [supervisor.NAME]
// and [worker.NAME] read on its own, with the positions needed to report
// cross-reference errors (undefined children, duplicates, cycles).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "otpsup/spec.h"

namespace otpsup::config {

// One entry of a supervisor's `children` array, as written.
struct ChildRef {
  std::string name;
  SourcePos pos;  // of the string in the array
};

struct SupervisorDraft {
  SupervisorSpec spec;  // children still empty; `pos` is the section header
  ChildSpec as_child;   // how its parent holds it: is_supervisor, restart, shutdown
  std::vector<ChildRef> children;
  bool has_children_key = false;
  SourcePos name_pos;                        // of NAME in [supervisor.NAME]
  std::optional<SourcePos> significant_pos;  // of `significant = true`
};

struct WorkerDraft {
  ChildSpec spec;
  SourcePos name_pos;                        // of NAME in [worker.NAME]
  std::optional<SourcePos> significant_pos;  // of `significant = true`
};

}  // namespace otpsup::config
