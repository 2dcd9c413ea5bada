// Finding the program a worker's command runs, before anything starts, so
// that a typo is a config error with a position rather than a start failure.
//
// Touches the file system (stat, access), nothing else.
#pragma once

#include <string>
#include <string_view>

#include "otpsup/config.h"

namespace otpsup::config {

struct ExecutableLookup {
  std::string path;   // absolute, lexically normal; empty when not found
  std::string error;  // why not, when `path` is empty: "'x' not found in ..."
};

// Resolves argv[0] as otpsupd will exec it:
//  * a name containing '/' is taken as given (relative to the current
//    directory) and must be an executable regular file;
//  * any other name is searched in the directories of ctx.path_env
//    (colon-separated; empty entries are skipped, not taken as "."), then in
//    ctx.self_dir. The first executable regular file wins.
ExecutableLookup find_executable(std::string_view name, const ConfigContext& ctx);

}  // namespace otpsup::config
