// Child specs for unit tests of the pure core and of what renders its state:
// nothing is ever started, so every worker runs /bin/true.
#pragma once

#include <string>
#include <utility>

#include "otpsup/spec.h"

namespace otpsup::testing {

// A worker `id` with the given restart type and every other field at its default.
inline ChildSpec worker(std::string id, RestartType restart = RestartType::permanent) {
  ChildSpec c;
  c.id = std::move(id);
  c.restart = restart;
  c.command = {"/bin/true"};
  c.executable = "/bin/true";
  return c;
}

}  // namespace otpsup::testing
