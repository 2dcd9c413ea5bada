// mkdir -p for otpsupd's own directories (state dir, logs).
#pragma once

#include <string>

#include "otpsup/status.h"

namespace otpsup {

// Creates `dir` and every missing parent, each with mode 0700 (existing ones
// are left as they are). Fails when a component exists and is not a
// directory, or cannot be created: "mkdir: /x/y: Permission denied".
Status make_private_dirs(const std::string& dir);

}  // namespace otpsup
