// The [daemon] section: where the daemon keeps its socket and state, and how
// it writes the history log.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <toml++/toml.h>

#include "diagnostics.h"
#include "otpsup/config.h"

namespace otpsup::config {

// Reads [daemon] (`node` is whatever the file has under the top-level key
// "daemon"). Keys that are missing or wrong keep their defaults; every
// problem is reported to `diag`.
DaemonSettings read_daemon_section(const toml::node& node, Diagnostics& diag);

// A size in bytes written as a string: digits with an optional binary unit
// K, M or G (1024, 1024^2, 1024^3; either case, optionally followed by "B"
// or "iB": "512K", "64MiB", "1g"). Nothing for anything else or on overflow.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);

}  // namespace otpsup::config
