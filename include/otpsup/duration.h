// Parsing and printing of durations such as "5s", "250ms", "2m", "1h", "1.5s".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "otpsup/spec.h"

namespace otpsup {

// Parses a non-negative duration: a decimal number followed by one of the
// units ms, s, m, h (no unit is an error; "0" alone is accepted as zero).
// Returns nullopt on anything else (negative, empty, unknown unit, overflow).
std::optional<Duration> parse_duration(std::string_view text);

// Shortest readable form: "250ms", "5s", "1.5s", "2m", "1h".
std::string format_duration(Duration d);

}  // namespace otpsup
