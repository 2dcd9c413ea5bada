// The environment a worker is started with.
//
// In order, later entries replacing earlier ones of the same name: the
// daemon's own environment (with clear_env only its PATH, HOME, USER and
// LANG); for a worker with a `user`, that user's HOME, USER and LOGNAME; the
// spec's `env`; OTPSUP_CHILD_PATH, the worker's path in the tree. The
// daemon's entries come first, in their order, then the others sorted by name.
//
// Built once per start, just before clone: the daemon's entries are not
// copied (envp points at them), only the few set here are made.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "os/credentials.h"
#include "otpsup/spec.h"

namespace otpsup {

class ChildEnvironment {
 public:
  // `inherited`: a NULL-terminated NAME=value array (the daemon's `environ`),
  // which must stay unchanged while envp() is in use. `identity` may be null.
  ChildEnvironment(char* const* inherited, const ChildSpec& spec, std::string_view child_path,
                   const Credentials* identity);
  ChildEnvironment(const ChildEnvironment&) = delete;
  ChildEnvironment& operator=(const ChildEnvironment&) = delete;

  // The NULL-terminated array for execve; valid while this object lives.
  char* const* envp() const { return pointers_.data(); }

 private:
  // Sets NAME=value among the entries made here, replacing one of that name.
  void set(std::string_view name, std::string_view value);
  bool is_set_here(std::string_view entry) const;

  std::vector<std::string> made_;  // "NAME=value", sorted by name once built
  std::vector<char*> pointers_;
};

}  // namespace otpsup
