// Typed readers for single TOML values, shared by the section readers.
//
// Each reader checks one node against what its key expects. On success it
// returns the value; otherwise it reports one error at the node's position,
// worded "<what>: expected <what was expected>, found <what was there>", and
// returns nothing. `what` names the key as the user wrote it ("intensity",
// "command[2]", "env.HOME").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "diagnostics.h"
#include "otpsup/spec.h"
#include "schema.h"

namespace otpsup::config {

// "a string", "an integer", "an array", ... for the node's TOML type.
std::string_view type_phrase(const toml::node& node);

// `text` in double quotes, with quotes, backslashes and control characters
// escaped as in TOML, for echoing a value back in a message.
std::string quote_value(std::string_view text);

std::optional<std::string> read_string(const toml::node& node, std::string_view what,
                                       Diagnostics& diag);
std::optional<bool> read_bool(const toml::node& node, std::string_view what, Diagnostics& diag);

// An integer in [min, max].
std::optional<std::int64_t> read_integer(const toml::node& node, std::string_view what,
                                         std::int64_t min, std::int64_t max, Diagnostics& diag);

// A non-empty-or-empty array whose every element is a string.
std::optional<std::vector<std::string>> read_string_array(const toml::node& node,
                                                          std::string_view what, Diagnostics& diag);

// One of `names` (a string); returns its index.
std::optional<std::size_t> read_choice(const toml::node& node, std::string_view what,
                                       std::span<const std::string_view> names, Diagnostics& diag);

// A duration string ("5s", see parse_duration). With `positive`, zero is
// rejected too.
std::optional<Duration> read_duration(const toml::node& node, std::string_view what, bool positive,
                                      Diagnostics& diag);

// "brutal_kill", "infinity" or a duration string.
std::optional<Shutdown> read_shutdown(const toml::node& node, std::string_view what,
                                      Diagnostics& diag);

// "permanent", "transient" or "temporary".
std::optional<RestartType> read_restart(const toml::node& node, std::string_view what,
                                        Diagnostics& diag);

// "one_for_one", "one_for_all", "rest_for_one" or "dynamic".
std::optional<Strategy> read_strategy(const toml::node& node, std::string_view what,
                                      Diagnostics& diag);

// Reports `key` as not valid in a section of `kind` called `section` (as
// section_label writes it), suggesting the nearest valid key, or the kind of
// section the key belongs to.
void report_unknown_key(const toml::key& key, SectionKind kind, std::string_view section,
                        Diagnostics& diag);

}  // namespace otpsup::config
