// A worker added at run time (otpsupctl add): the same keys, checks and
// messages as a [worker.NAME] section of the configuration file.
#pragma once

#include <string>
#include <vector>

#include "otpsup/config.h"
#include "otpsup/spec.h"

namespace otpsup::config {

struct AddedWorker {
  ChildSpec spec;                   // meaningful only when errors is empty
  std::vector<ConfigError> errors;  // file "--set": line N is the Nth setting
};

// Reads worker `id` from its `command` (the argv; command[0] resolved as the
// configuration does) and `settings`, each one `KEY = VALUE` line of TOML as
// it would appear in the worker's section (user = "nobody",
// restart_delay = "1s", env = { A = "1" }). `command` may not also be a
// setting, nor may one key be set twice. REQUIRES: command is not empty.
AddedWorker read_added_worker(const std::string& id, const std::vector<std::string>& command,
                              const std::vector<std::string>& settings, const ConfigContext& ctx);

}  // namespace otpsup::config
