#include "value_readers.h"

#include <array>
#include <climits>
#include <cstdio>

#include "did_you_mean.h"
#include "otpsup/duration.h"

namespace otpsup::config {
namespace {

constexpr std::string_view kDurationExamples = "a duration such as \"5s\", \"250ms\" or \"2m\"";

std::string expected_found(std::string_view what, std::string_view expected,
                           std::string_view found) {
  std::string text(what);
  text += ": expected ";
  text += expected;
  text += ", found ";
  text += found;
  return text;
}

void report_type(const toml::node& node, std::string_view what, std::string_view expected,
                 Diagnostics& diag, std::string hint = {}) {
  diag.error(pos_of(node), expected_found(what, expected, type_phrase(node)), std::move(hint));
}

// For an integer where a duration string was expected: the fix, spelled out.
std::string integer_duration_hint(const toml::node& node) {
  if (const auto* value = node.as_integer()) {
    const std::string n = std::to_string(value->get());
    return "durations are strings with a unit: write \"" + n + "s\" or \"" + n + "ms\"";
  }
  return {};
}

// "12", "-3": a string that was meant as a TOML integer.
bool is_integer_text(std::string_view text) {
  if (!text.empty() && text.front() == '-') text.remove_prefix(1);
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Joins names as "\"a\", \"b\" or \"c\"".
std::string choice_list(std::span<const std::string_view> names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " or " : ", ";
    text += quote_value(names[i]);
  }
  return text;
}

}  // namespace

std::string_view type_phrase(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string quote_value(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", byte);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::optional<std::string> read_string(const toml::node& node, std::string_view what,
                                       Diagnostics& diag) {
  if (const auto* value = node.as_string()) return value->get();
  report_type(node, what, "a string", diag);
  return std::nullopt;
}

std::optional<bool> read_bool(const toml::node& node, std::string_view what, Diagnostics& diag) {
  if (const auto* value = node.as_boolean()) return value->get();
  std::string hint;
  if (const auto* s = node.as_string(); s && (s->get() == "true" || s->get() == "false")) {
    hint = "write " + s->get() + " without quotes";
  }
  report_type(node, what, "a boolean (true or false)", diag, std::move(hint));
  return std::nullopt;
}

std::optional<std::int64_t> read_integer(const toml::node& node, std::string_view what,
                                         std::int64_t min, std::int64_t max, Diagnostics& diag) {
  const auto* value = node.as_integer();
  if (value == nullptr) {
    std::string hint;
    if (const auto* s = node.as_string(); s && is_integer_text(s->get())) {
      hint = "write " + s->get() + " without quotes";
    }
    report_type(node, what, "an integer", diag, std::move(hint));
    return std::nullopt;
  }
  const std::int64_t n = value->get();
  if (n >= min && n <= max) return n;
  std::string expected = "an integer ";
  if (max >= INT_MAX && n < min) {
    expected += ">= " + std::to_string(min);
  } else {
    expected += "from " + std::to_string(min) + " to " + std::to_string(max);
  }
  diag.error(pos_of(node), expected_found(what, expected, std::to_string(n)));
  return std::nullopt;
}

std::optional<std::vector<std::string>> read_string_array(const toml::node& node,
                                                          std::string_view what,
                                                          Diagnostics& diag) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    report_type(node, what, "an array of strings", diag);
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string element_what = std::string(what) + "[" + std::to_string(i) + "]";
    if (auto s = read_string(*array->get(i), element_what, diag)) {
      out.push_back(std::move(*s));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::size_t> read_choice(const toml::node& node, std::string_view what,
                                       std::span<const std::string_view> names, Diagnostics& diag) {
  const std::string expected = "one of " + choice_list(names);
  const auto* value = node.as_string();
  if (value == nullptr) {
    report_type(node, what, expected, diag);
    return std::nullopt;
  }
  const std::string& text = value->get();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == text) return i;
  }
  diag.error(pos_of(node), expected_found(what, expected, quote_value(text)),
             did_you_mean(text, names));
  return std::nullopt;
}

std::optional<Duration> read_duration(const toml::node& node, std::string_view what, bool positive,
                                      Diagnostics& diag) {
  const auto* value = node.as_string();
  if (value == nullptr) {
    report_type(node, what, kDurationExamples, diag, integer_duration_hint(node));
    return std::nullopt;
  }
  auto d = parse_duration(value->get());
  if (!d) {
    diag.error(pos_of(node), expected_found(what, kDurationExamples, quote_value(value->get())));
    return std::nullopt;
  }
  if (positive && d->count() == 0) {
    diag.error(pos_of(node),
               expected_found(what, "a duration greater than zero", quote_value(value->get())));
    return std::nullopt;
  }
  return d;
}

std::optional<Shutdown> read_shutdown(const toml::node& node, std::string_view what,
                                      Diagnostics& diag) {
  constexpr std::array<std::string_view, 2> kWords{"brutal_kill", "infinity"};
  const std::string expected = "\"brutal_kill\", \"infinity\" or " + std::string(kDurationExamples);
  const auto* value = node.as_string();
  if (value == nullptr) {
    report_type(node, what, expected, diag, integer_duration_hint(node));
    return std::nullopt;
  }
  const std::string& text = value->get();
  if (text == "brutal_kill") return Shutdown{Shutdown::Kind::brutal_kill, Duration{0}};
  if (text == "infinity") return Shutdown{Shutdown::Kind::infinity, Duration{0}};
  if (auto d = parse_duration(text)) return Shutdown{Shutdown::Kind::timeout, *d};
  diag.error(pos_of(node), expected_found(what, expected, quote_value(text)),
             did_you_mean(text, kWords));
  return std::nullopt;
}

std::optional<RestartType> read_restart(const toml::node& node, std::string_view what,
                                        Diagnostics& diag) {
  constexpr std::array<std::string_view, 3> kNames{"permanent", "transient", "temporary"};
  constexpr std::array<RestartType, 3> kValues{RestartType::permanent, RestartType::transient,
                                               RestartType::temporary};
  auto i = read_choice(node, what, kNames, diag);
  if (!i) return std::nullopt;
  return kValues[*i];
}

std::optional<Strategy> read_strategy(const toml::node& node, std::string_view what,
                                      Diagnostics& diag) {
  constexpr std::array<std::string_view, 4> kNames{"one_for_one", "one_for_all", "rest_for_one",
                                                   "dynamic"};
  constexpr std::array<Strategy, 4> kValues{Strategy::one_for_one, Strategy::one_for_all,
                                            Strategy::rest_for_one, Strategy::dynamic};
  auto i = read_choice(node, what, kNames, diag);
  if (!i) return std::nullopt;
  return kValues[*i];
}

void report_unknown_key(const toml::key& key, SectionKind kind, std::string_view section,
                        Diagnostics& diag) {
  const std::string_view name = key.str();
  std::string hint = did_you_mean(name, keys_of(kind));
  if (hint.empty()) {
    // A valid key in the wrong kind of section: say where it belongs.
    for (SectionKind other : {SectionKind::worker, SectionKind::supervisor, SectionKind::daemon}) {
      if (other == kind) continue;
      for (std::string_view valid : keys_of(other)) {
        if (valid != name) continue;
        hint = "'" + std::string(name) + "' belongs in a " +
               section_label(other, other == SectionKind::daemon ? "" : "NAME") + " section";
        break;
      }
      if (!hint.empty()) break;
    }
  }
  diag.error(pos_of(key), "unknown key '" + std::string(name) + "' in " + std::string(section),
             std::move(hint));
}

}  // namespace otpsup::config
