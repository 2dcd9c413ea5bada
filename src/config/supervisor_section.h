// One [supervisor.NAME] section, read on its own (children are checked
// against the other sections later, by link_tree).
#pragma once

#include <string>

#include <toml++/toml.h>

#include "diagnostics.h"
#include "drafts.h"

namespace otpsup::config {

// Reads the section `node` defining supervisor `name` (whose key is at
// `name_pos`). Missing or wrong keys keep their defaults (one_for_one,
// intensity 1, period 5s, restart permanent, shutdown infinity); every
// problem is reported to `diag`.
SupervisorDraft read_supervisor_section(const std::string& name, SourcePos name_pos,
                                        const toml::node& node, Diagnostics& diag);

}  // namespace otpsup::config
