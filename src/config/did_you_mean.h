// "did you mean 'intensity'?" — suggestions for misspelt keys and names.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace otpsup::config {

// Optimal-string-alignment distance: insertions, deletions, substitutions
// and transpositions of adjacent characters each cost 1.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` within distance 2 (and closer than the
// length of `word`, so that "x" does not suggest "id"); the first in
// `candidates` order on a tie. Nothing when none is close or `word` is
// itself a candidate.
std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> candidates);

// "did you mean 'X'?" for closest_match, or "" when there is none.
std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace otpsup::config
