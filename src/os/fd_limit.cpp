#include "os/fd_limit.h"

#include <cstdlib>
#include <string>

namespace otpsup {

namespace {
rlim_t g_children_soft = RLIM_INFINITY;
constexpr const char* kInheritedSoft = "OTPSUP_NOFILE_SOFT";
}  // namespace

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  g_children_soft = limit.rlim_cur;
  // A node was started with its parent's raised limit: the operator's
  // original one comes through the environment.
  if (const char* inherited = std::getenv(kInheritedSoft)) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(inherited, &end, 10);
    if (end != inherited && *end == '\0') g_children_soft = static_cast<rlim_t>(v);
  } else {
    ::setenv(kInheritedSoft, std::to_string(g_children_soft).c_str(), 1);
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

rlim_t children_fd_soft_limit() {
  return g_children_soft;
}

}  // namespace otpsup
