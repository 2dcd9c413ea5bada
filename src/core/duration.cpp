// Durations in the config and on command lines: "5s", "250ms", "1.5s", "2m".
//
// Pure: no system calls, no locale. A duration is a decimal number (digits,
// optionally followed by '.' and more digits) and a unit: ms, s, m or h. The
// value must be a whole number of milliseconds ("1.5s" is fine, "0.5ms" is
// not) and fit in a Duration. A bare "0" means zero.
#include "otpsup/duration.h"

#include <cstdint>
#include <limits>

namespace otpsup {
namespace {

constexpr std::int64_t kMsPerSecond = 1000;
constexpr std::int64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr std::int64_t kMsPerHour = 60 * kMsPerMinute;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Milliseconds per unit, or 0 for an unknown unit.
std::int64_t unit_ms(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return kMsPerSecond;
  if (unit == "m") return kMsPerMinute;
  if (unit == "h") return kMsPerHour;
  return 0;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text == "0") return Duration{0};

  std::size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  const std::string_view whole = text.substr(0, i);
  std::string_view fraction;
  if (whole.empty()) return std::nullopt;  // also rejects "-1s", ".5s", "s"
  if (i < text.size() && text[i] == '.') {
    std::size_t start = ++i;
    while (i < text.size() && is_digit(text[i])) ++i;
    fraction = text.substr(start, i - start);
    if (fraction.empty()) return std::nullopt;  // "1.s"
  }
  const std::int64_t per_unit = unit_ms(text.substr(i));
  if (per_unit == 0) return std::nullopt;

  // value = (whole + fraction / 10^len) * per_unit, computed exactly in
  // integers: whole * per_unit + fraction * per_unit / 10^len.
  constexpr std::int64_t kMax = std::numeric_limits<Duration::rep>::max();
  std::int64_t total = 0;
  for (char c : whole) {
    const std::int64_t digit = c - '0';
    if (total > (kMax - digit) / 10) return std::nullopt;
    total = total * 10 + digit;
  }
  if (total > kMax / per_unit) return std::nullopt;
  total *= per_unit;

  // Trailing zeros of the fraction carry no value; strip them so the scale
  // below stays small ("1.500000000000s" is still 1500ms).
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  if (!fraction.empty()) {
    // With a non-zero last digit, more than 7 fractional digits can never
    // make whole milliseconds (3.6e6 = 2^7 * 3^2 * 5^5 ms per hour).
    if (fraction.size() > 7) return std::nullopt;
    std::int64_t numerator = 0;
    std::int64_t scale = 1;
    for (char c : fraction) {
      numerator = numerator * 10 + (c - '0');
      scale *= 10;
    }
    // numerator < 10^7 and per_unit <= 3.6e6: the product fits in int64.
    const std::int64_t scaled = numerator * per_unit;
    if (scaled % scale != 0) return std::nullopt;  // not a whole millisecond
    const std::int64_t extra = scaled / scale;
    if (total > kMax - extra) return std::nullopt;
    total += extra;
  }
  return Duration{total};
}

std::string format_duration(Duration d) {
  // Negative durations are never produced by parse_duration; they are
  // printed with a '-' for diagnostics only. The magnitude is unsigned so
  // that the most negative value has one too.
  const std::int64_t count = d.count();
  const std::string sign = count < 0 ? "-" : "";
  const std::uint64_t ms =
      count < 0 ? 0 - static_cast<std::uint64_t>(count) : static_cast<std::uint64_t>(count);
  constexpr std::uint64_t kHour = kMsPerHour;
  constexpr std::uint64_t kMinute = kMsPerMinute;
  constexpr std::uint64_t kSecond = kMsPerSecond;

  if (ms == 0) return "0s";
  if (ms % kHour == 0) return sign + std::to_string(ms / kHour) + "h";
  if (ms % kMinute == 0) return sign + std::to_string(ms / kMinute) + "m";
  if (ms % kSecond == 0) return sign + std::to_string(ms / kSecond) + "s";
  if (ms < kSecond) return sign + std::to_string(ms) + "ms";
  // Seconds with up to three decimals, trailing zeros dropped: "1.5s", "1.25s".
  std::string millis = std::to_string(ms % kSecond);
  millis.insert(0, 3 - millis.size(), '0');
  while (millis.back() == '0') millis.pop_back();
  return sign + std::to_string(ms / kSecond) + "." + millis + "s";
}

}  // namespace otpsup
