// Parsing TOML text into a table, a syntax error reported as a config error.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "diagnostics.h"

namespace otpsup::config {

// The table of `text` (`source_name` names it in toml++'s positions), or
// nullopt with one "TOML syntax error: ..." reported to `diag` at the error's
// position, with `hint` when not empty.
std::optional<toml::table> parse_toml_text(std::string_view text, const std::string& source_name,
                                           Diagnostics& diag, std::string hint = {});

}  // namespace otpsup::config
