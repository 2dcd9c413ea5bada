// One [worker.NAME] section: a command to run and how to treat it.
#pragma once

#include <string>

#include <toml++/toml.h>

#include "diagnostics.h"
#include "drafts.h"
#include "otpsup/config.h"

namespace otpsup::config {

// Reads the section `node` defining worker `name` (whose key is at
// `name_pos`). The command's program is resolved with find_executable and
// `cwd` must be an existing directory (both relative paths are taken from
// the current directory and stored absolute); `user` and `group` must exist
// (looked up now, and again when the worker starts). Missing or wrong keys keep
// their defaults (restart permanent, shutdown 5s, stop_signal SIGTERM,
// normal_exit_codes [0]); every problem is reported to `diag`.
WorkerDraft read_worker_section(const std::string& name, SourcePos name_pos, const toml::node& node,
                                const ConfigContext& ctx, Diagnostics& diag);

}  // namespace otpsup::config
